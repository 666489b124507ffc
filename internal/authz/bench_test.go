package authz

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/ztgate/ztgate/internal/authz/workload"
	"github.com/ztgate/ztgate/internal/policy"
)

// buildWorkload compiles the benchmark workload with total policies into
// a snapshot, and builds its request.
func buildWorkload(tb testing.TB, total int) (*Snapshot, *Request) {
	tb.Helper()
	target, others := workload.Generate(total)
	b := NewBuilder(1)
	comp := NewCompiler()
	for _, p := range append(target, others...) {
		doc, errs := policy.Check(p.JSON(), policy.Identity)
		if len(errs) > 0 {
			tb.Fatalf("%s: %v", p.Name, errs)
		}
		cp, err := comp.Compile(p.Name, doc)
		if err != nil {
			tb.Fatalf("%s: %v", p.Name, err)
		}
		b.Add(cp)
		b.Attach(IdentityKey{Account: workload.Account, Kind: User, Name: p.Principal}, p.Name)
	}
	snap, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	wr := workload.TheRequest()
	ctx := &Context{}
	ctx.SetString("aws:SourceIp", wr.SourceIP)
	ctx.SetString("aws:PrincipalTag/team", wr.Team)
	ctx.SetString("aws:ResourceTag/env", wr.Environment)
	p := ParsePrincipal(workload.PrincipalARN(wr.Principal))
	ctx.SetDefaults(p, wr.Time)
	return snap, &Request{Principal: p, Action: wr.Action, Resource: wr.Resource, Context: ctx}
}

var sizes = []int{10, 10_000, 100_000}

// BenchmarkDecide: one decision for a principal with five attached
// policies (50 statements with IP, date, string and tag conditions) among
// 10, 10,000 and 100,000 policies.
func BenchmarkDecide(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			snap, req := buildWorkload(b, n)
			if d := snap.Decide(req, "", nil); d.Effect != Allowed {
				b.Fatalf("workload request: %v", d.Effect)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				snap.Decide(req, "", nil)
			}
		})
	}
}

// BenchmarkSnapshotMemory reports the heap a snapshot of 10,000 policies
// holds.
func BenchmarkSnapshotMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		snap, _ := buildWorkload(b, 10_000)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/10k-policies")
		runtime.KeepAlive(snap)
	}
}

// TestDecideAllocs holds the decision path to zero allocations.
func TestDecideAllocs(t *testing.T) {
	snap, req := buildWorkload(t, 1000)
	deny := *req
	deny.Action = "s3:DeleteObject"
	implicit := *req
	implicit.Action = "sqs:SendMessage"
	for name, r := range map[string]*Request{"allow": req, "explicit deny": &deny, "implicit deny": &implicit} {
		if n := testing.AllocsPerRun(200, func() { snap.Decide(r, "", nil) }); n != 0 {
			t.Errorf("%s: %v allocations per decision, want 0", name, n)
		}
	}
	if d := snap.Decide(&deny, "", nil); d.Effect != ExplicitDeny {
		t.Errorf("delete: %v", d.Effect)
	}
	if d := snap.Decide(&implicit, "", nil); d.Effect != ImplicitDeny {
		t.Errorf("send: %v", d.Effect)
	}
}
