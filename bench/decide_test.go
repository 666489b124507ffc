package bench

import (
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/authz/workload"
)

// variants are requests around the workload's, each with IAM's answer.
func variants() []struct {
	name  string
	req   workload.Request
	allow bool
} {
	req := workload.TheRequest()
	with := func(f func(*workload.Request)) workload.Request {
		r := req
		f(&r)
		return r
	}
	// The target's statement 3 of every policy is sns:Describe* on its
	// own resources from 10.3.0.0/16.
	describe := with(func(r *workload.Request) {
		r.Action, r.Resource, r.SourceIP = "sns:DescribeTopics", "arn:aws:sns:::alice-res-2-3/topic/a", "10.3.9.9"
	})
	return []struct {
		name  string
		req   workload.Request
		allow bool
	}{
		{"workload request", req, true},
		{"implicitly denied action", with(func(r *workload.Request) { r.Action = "sqs:SendMessage" }), false},
		{"explicitly denied action", with(func(r *workload.Request) { r.Action = "s3:DeleteObject" }), false},
		{"source ip outside cidr", with(func(r *workload.Request) { r.SourceIP = "10.2.0.1" }), false},
		{"wrong team tag", with(func(r *workload.Request) { r.Team = "marketing" }), false},
		{"wrong env tag", with(func(r *workload.Request) { r.Environment = "dev" }), false},
		{"expired", with(func(r *workload.Request) { r.Time = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }), false},
		{"resource outside pattern", with(func(r *workload.Request) { r.Resource = "arn:aws:s3:::reportsx/a" }), false},
		{"other principal", with(func(r *workload.Request) { r.Principal = "user000000" }), false},
		{"wildcard action", describe, true},
		{"wildcard action in other case", with(func(r *workload.Request) { *r = describe; r.Action = "SNS:describeTOPICS" }), true},
		{"wildcard action, other service", with(func(r *workload.Request) { *r = describe; r.Action = "sqs:DescribeQueues" }), false},
	}
}

func decide(t *testing.T, e Engine, r workload.Request) bool {
	t.Helper()
	p, err := e.Prepare(r)
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := p.Allowed()
	if err != nil {
		t.Fatal(err)
	}
	return allowed
}

// TestEnginesAgree holds the three engines to IAM's answers, and so to
// each other, on the workload request and its variants.
func TestEnginesAgree(t *testing.T) {
	for _, n := range []int{10, 1000} {
		ps := Workload(n)
		for _, eb := range Builders() {
			e, err := eb.Build(ps)
			if err != nil {
				t.Fatalf("%s: %v", eb.Name, err)
			}
			for _, v := range variants() {
				if got := decide(t, e, v.req); got != v.allow {
					t.Errorf("policies=%d %s: %s: allowed %v, want %v", n, eb.Name, v.name, got, v.allow)
				}
			}
		}
	}
}

// TestDenyOverrides adds a policy allowing everything to the target: an
// explicit deny must still win.
func TestDenyOverrides(t *testing.T) {
	ps := append(Workload(10), workload.Policy{
		Name: "alice-everything", Principal: workload.Target,
		Statements: []workload.Statement{{Sid: "All", Allow: true, Actions: []string{"*"}, Resources: []string{"*"}}},
	})
	del, put := workload.TheRequest(), workload.TheRequest()
	del.Action, put.Action = "s3:DeleteObject", "s3:PutObject"
	for _, eb := range Builders() {
		e, err := eb.Build(ps)
		if err != nil {
			t.Fatalf("%s: %v", eb.Name, err)
		}
		if decide(t, e, del) {
			t.Errorf("%s: s3:DeleteObject allowed despite the deny", eb.Name)
		}
		if !decide(t, e, put) {
			t.Errorf("%s: s3:PutObject denied", eb.Name)
		}
	}
}

// TestCedarPolicy pins the Cedar written for the statement that allows
// the workload request, and for a wildcard action.
func TestCedarPolicy(t *testing.T) {
	target, _ := workload.Generate(5)
	for _, c := range []struct {
		st   workload.Statement
		want string
	}{
		{target[3].Statements[5], `permit (
  principal == User::"alice",
  action in [Action::"s3:getobject"],
  resource
)
when {
  (resource.arn like "arn:aws:s3:::reports/*") &&
  context.sourceIp.isInRange(ip("10.1.0.0/16")) &&
  context.now < datetime("2030-01-01T00:00:00Z") &&
  principal.hasTag("team") && principal.getTag("team") == "payments" &&
  resource.hasTag("env") && resource.getTag("env") == "prod"
};
`},
		{target[0].Statements[3], `permit (
  principal == User::"alice",
  action,
  resource
)
when {
  (context.action like "sns:describe*") &&
  (resource.arn like "arn:aws:sns:::alice-res-0-3/*") &&
  context.sourceIp.isInRange(ip("10.3.0.0/16")) &&
  context.now < datetime("2030-01-01T00:00:00Z") &&
  principal.hasTag("team") && principal.getTag("team") == "payments" &&
  resource.hasTag("env") && resource.getTag("env") == "prod"
};
`},
		{target[0].Statements[9], `forbid (
  principal == User::"alice",
  action in [Action::"s3:deleteobject"],
  resource
);
`},
	} {
		got, err := CedarPolicy(workload.Target, c.st)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", c.st.Sid, got, c.want)
		}
	}
}

var sizes = []int{10, 10_000, 100_000}

var full = flag.Bool("full", false, "also measure the sizes skipped by default")

// skipped names the sizes an engine is measured at only with -full, and
// why.
var skipped = map[string]string{
	"cedar/100000": "cedar-go evaluates every policy in the set on each request (it has no index): " +
		"100,000 IAM policies are 1,000,000 Cedar policies; on a shared 2-core machine loading them " +
		"took 210 s and 7.6 GB of memory, and one decision 3.4 s (-full measures it anyway)",
}

// BenchmarkDecide: one decision of the workload request, for a principal
// with five attached policies (50 statements with IP, date, string and
// tag conditions) among 10, 10,000 and 100,000 policies, in each engine.
// build-s is the time to load the engine, not part of ns/op.
func BenchmarkDecide(b *testing.B) {
	for _, eb := range Builders() {
		b.Run("engine="+eb.Name, func(b *testing.B) {
			for _, n := range sizes {
				b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
					if why, ok := skipped[fmt.Sprintf("%s/%d", eb.Name, n)]; ok && !*full {
						b.Skip(why)
					}
					start := time.Now()
					e, err := eb.Build(Workload(n))
					if err != nil {
						b.Fatal(err)
					}
					built := time.Since(start)
					p, err := e.Prepare(workload.TheRequest())
					if err != nil {
						b.Fatal(err)
					}
					if ok, err := p.Allowed(); err != nil || !ok {
						b.Fatalf("workload request: allowed %v, %v", ok, err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if _, err := p.Allowed(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(built.Seconds(), "build-s")
				})
			}
		})
	}
}

// BenchmarkMemory reports the heap each engine holds for 10,000 policies,
// after collection; ns/op is the time to build it.
func BenchmarkMemory(b *testing.B) {
	for _, eb := range Builders() {
		b.Run("engine="+eb.Name, func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				e, err := eb.Build(Workload(10_000))
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/10k")
				runtime.KeepAlive(e)
			}
		})
	}
}
