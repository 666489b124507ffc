package authz

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/policy"
)

func mustPolicy(t *testing.T, name, doc string, kind policy.Kind) *Policy {
	t.Helper()
	p, err := CompileJSON(name, []byte(doc), kind)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

func set(t *testing.T, kind policy.Kind, docs ...string) *Set {
	t.Helper()
	var ps []*Policy
	for i, d := range docs {
		ps = append(ps, mustPolicy(t, kind.String()+string(rune('A'+i)), d, kind))
	}
	return NewSet(ps...)
}

const (
	alice   = "arn:zt:iam::111122223333:user/alice"
	session = "arn:zt:sts::111122223333:assumed-role/deployer/ci-42"
	role    = "arn:zt:iam::111122223333:role/deployer"
	mallory = "arn:zt:iam::444455556666:user/mallory"
	route   = "arn:zt:gateway::111122223333:route/app/reports"
)

func stmt(effect, action, resource string, extra ...string) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"S","Effect":"` + effect + `","Action":"` + action + `","Resource":"` + resource + `"` + strings.Join(extra, "") + `}]}`
}

func TestEvaluate(t *testing.T) {
	allowGet := stmt("Allow", "http:GET", "*")
	denyAll := stmt("Deny", "*", "*")
	allowAll := stmt("Allow", "*", "*")
	resFor := func(p string) string { return stmt("Allow", "http:GET", route, `,"Principal":{"AWS":"`+p+`"}`) }
	tests := []struct {
		name      string
		principal string
		action    string
		ps        func() Policies
		want      Effect
		blocked   Layer
	}{
		{"nothing allows", alice, "http:GET", func() Policies { return Policies{Identity: NewSet()} }, ImplicitDeny, NoLayer},
		{"identity allows", alice, "http:GET", func() Policies { return Policies{Identity: set(t, policy.Identity, allowGet)} }, Allowed, NoLayer},
		{"actions are case-insensitive", alice, "HTTP:get", func() Policies { return Policies{Identity: set(t, policy.Identity, allowGet)} }, Allowed, NoLayer},
		{"deny anywhere wins", alice, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Resource: set(t, policy.Resource, stmt("Deny", "*", "*", `,"Principal":"*"`))}
		}, ExplicitDeny, NoLayer},
		{"a guardrail level that does not allow", alice, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Guardrails: []*Set{set(t, policy.Guardrail, allowAll), NewSet()}}
		}, ImplicitDeny, LayerGuardrail},
		{"every guardrail level allows", alice, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Guardrails: []*Set{set(t, policy.Guardrail, allowAll), set(t, policy.Guardrail, stmt("Allow", "http:*", "*"))}}
		}, Allowed, NoLayer},
		{"boundary bounds identity", alice, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Boundary: set(t, policy.Boundary, stmt("Allow", "s3:*", "*"))}
		}, ImplicitDeny, LayerBoundary},
		{"session policy bounds identity", session, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Session: set(t, policy.Session, stmt("Allow", "http:POST", "*"))}
		}, ImplicitDeny, LayerSession},
		{"resource policy naming the user is not bounded", alice, "http:GET", func() Policies {
			return Policies{Identity: NewSet(), Boundary: set(t, policy.Boundary, stmt("Allow", "s3:*", "*")), Resource: set(t, policy.Resource, resFor(alice))}
		}, Allowed, NoLayer},
		{"resource policy naming the session is not bounded by the boundary", session, "http:GET", func() Policies {
			return Policies{Identity: NewSet(), Boundary: set(t, policy.Boundary, stmt("Allow", "s3:*", "*")), Resource: set(t, policy.Resource, resFor(session))}
		}, Allowed, NoLayer},
		{"resource policy naming the session is bounded by the session policy", session, "http:GET", func() Policies {
			return Policies{Identity: NewSet(), Session: set(t, policy.Session, stmt("Allow", "s3:*", "*")), Resource: set(t, policy.Resource, resFor(session))}
		}, ImplicitDeny, LayerSession},
		{"resource policy naming everyone is not bounded by the boundary", alice, "http:GET", func() Policies {
			return Policies{Identity: NewSet(), Boundary: set(t, policy.Boundary, stmt("Allow", "s3:*", "*")), Resource: set(t, policy.Resource, resFor("*"))}
		}, Allowed, NoLayer},
		{"NotPrincipal deny always applies to a bounded caller", alice, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Boundary: set(t, policy.Boundary, allowAll), Resource: set(t, policy.Resource, stmt("Deny", "*", "*", `,"NotPrincipal":{"AWS":"`+alice+`"}`))}
		}, ExplicitDeny, NoLayer},
		{"resource policy naming the role is bounded", session, "http:GET", func() Policies {
			return Policies{Identity: NewSet(), Session: set(t, policy.Session, stmt("Allow", "s3:*", "*")), Resource: set(t, policy.Resource, resFor(role))}
		}, ImplicitDeny, LayerSession},
		{"resource policy naming the role grants its sessions", session, "http:GET", func() Policies {
			return Policies{Identity: NewSet(), Resource: set(t, policy.Resource, resFor(role))}
		}, Allowed, NoLayer},
		{"resource policy naming the account delegates", alice, "http:GET", func() Policies {
			return Policies{Identity: NewSet(), Resource: set(t, policy.Resource, resFor("111122223333"))}
		}, ImplicitDeny, NoLayer},
		{"cross-account: resource alone is not enough", mallory, "http:GET", func() Policies {
			return Policies{Identity: NewSet(), Resource: set(t, policy.Resource, resFor(mallory))}
		}, ImplicitDeny, LayerIdentity},
		{"cross-account: identity alone is not enough", mallory, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet)}
		}, ImplicitDeny, LayerResource},
		{"cross-account: both sides allow", mallory, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Resource: set(t, policy.Resource, resFor("444455556666"))}
		}, Allowed, NoLayer},
		{"anonymous: only a public resource policy", "", "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowAll), Resource: set(t, policy.Resource, resFor("*")), Guardrails: []*Set{set(t, policy.Guardrail, denyAll)}}
		}, Allowed, NoLayer},
		{"anonymous: not named", "", "http:GET", func() Policies {
			return Policies{Resource: set(t, policy.Resource, resFor(alice))}
		}, ImplicitDeny, LayerResource},
		{"workload by SPIFFE ID pattern", "spiffe://corp.example/ns/prod/sa/billing", "http:GET", func() Policies {
			return Policies{Resource: set(t, policy.Resource, stmt("Allow", "http:GET", route, `,"Principal":{"SPIFFE":"spiffe://corp.example/ns/prod/*"}`))}
		}, Allowed, NoLayer},
		{"workload from another namespace", "spiffe://corp.example/ns/dev/sa/billing", "http:GET", func() Policies {
			return Policies{Resource: set(t, policy.Resource, stmt("Allow", "http:GET", route, `,"Principal":{"SPIFFE":"spiffe://corp.example/ns/prod/*"}`))}
		}, ImplicitDeny, NoLayer},
		{"NotPrincipal excludes the named caller", alice, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Resource: set(t, policy.Resource, stmt("Deny", "*", "*", `,"NotPrincipal":{"AWS":"`+alice+`"}`))}
		}, Allowed, NoLayer},
		{"NotPrincipal applies to everyone else", session, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), Resource: set(t, policy.Resource, stmt("Deny", "*", "*", `,"NotPrincipal":{"AWS":"`+alice+`"}`))}
		}, ExplicitDeny, NoLayer},
		{"NotAction", alice, "http:DELETE", func() Policies {
			return Policies{Identity: set(t, policy.Identity, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"http:DELETE","Resource":"*"}]}`)}
		}, ImplicitDeny, NoLayer},
		{"resource guardrail denies", alice, "http:GET", func() Policies {
			return Policies{Identity: set(t, policy.Identity, allowGet), ResourceGuardrails: []*Set{set(t, policy.ResourceGuardrail, stmt("Allow", "s3:*", "*", `,"Principal":"*"`))}}
		}, ImplicitDeny, LayerResourceGuardrail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.ps()
			r := &Request{Principal: ParsePrincipal(tc.principal), Action: tc.action, Resource: route, Context: &Context{}}
			d := Evaluate(r, &ps)
			if d.Effect != tc.want || d.BlockedBy != tc.blocked {
				t.Fatalf("got %v blocked by %q, want %v blocked by %q", d.Effect, d.BlockedBy, tc.want, tc.blocked)
			}
			for _, s := range d.Matched() {
				if (d.Effect == Allowed) != s.Allow {
					t.Errorf("decision %v explained by a statement with Allow=%v", d.Effect, s.Allow)
				}
			}
			if d.Effect != ImplicitDeny && len(d.Matched()) == 0 {
				t.Errorf("decision %v names no statement", d.Effect)
			}
		})
	}
}

func TestExplanation(t *testing.T) {
	ps := Policies{Identity: NewSet(
		mustPolicy(t, "readers", `{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"http:GET","Resource":"*"},{"Effect":"Allow","Action":"http:*","Resource":"*"}]}`, policy.Identity),
		mustPolicy(t, "guard", `{"Version":"2012-10-17","Statement":[{"Sid":"NoDelete","Effect":"Deny","Action":"http:DELETE","Resource":"*"}]}`, policy.Identity),
	)}
	r := &Request{Principal: ParsePrincipal(alice), Action: "http:GET", Resource: route, Context: &Context{}}
	d := Evaluate(r, &ps)
	var got []string
	for _, s := range d.Matched() {
		got = append(got, statementName(s))
	}
	if d.Effect != Allowed || strings.Join(got, ",") != "readers/Read,readers#1" {
		t.Fatalf("GET: %v %v", d.Effect, got)
	}
	r.Action = "http:DELETE"
	d = Evaluate(r, &ps)
	got = got[:0]
	for _, s := range d.Matched() {
		got = append(got, statementName(s))
	}
	if d.Effect != ExplicitDeny || strings.Join(got, ",") != "guard/NoDelete" {
		t.Fatalf("DELETE: %v %v", d.Effect, got)
	}
}

// TestTruncated: a decision lists at most maxMatched statements, and says
// when more allowed (or denied) than it lists.
func TestTruncated(t *testing.T) {
	for _, n := range []int{maxMatched, maxMatched + 2} {
		for _, effect := range []string{"Allow", "Deny"} {
			docs := make([]string, n)
			for i := range docs {
				docs[i] = stmt(effect, "http:GET", "*")
			}
			r := &Request{Principal: ParsePrincipal(alice), Action: "http:GET", Resource: route, Context: &Context{}}
			d := Evaluate(r, &Policies{Identity: set(t, policy.Identity, docs...)})
			if len(d.Matched()) != maxMatched || d.Truncated != (n > maxMatched) {
				t.Errorf("%d %s statements: %d listed, truncated %v", n, effect, len(d.Matched()), d.Truncated)
			}
		}
	}
}

// TestNeverMatchingCondition: a condition whose value its operator cannot
// read is accepted, as AWS accepts it, and never matches, as AWS
// evaluates it: the Allow it guards grants nothing, the Deny it guards
// does not apply.
func TestNeverMatchingCondition(t *testing.T) {
	never := `,"Condition":{"NumericLessThan":{"zt:RiskScore":"forty"}}`
	ctx := &Context{}
	ctx.SetString("zt:RiskScore", "10")
	r := &Request{Principal: ParsePrincipal(alice), Action: "http:GET", Resource: route, Context: ctx}
	d := Evaluate(r, &Policies{Identity: set(t, policy.Identity, stmt("Allow", "http:GET", "*", never))})
	if d.Effect != ImplicitDeny {
		t.Errorf("an Allow under a condition that never matches: %v", d.Effect)
	}
	d = Evaluate(r, &Policies{Identity: set(t, policy.Identity, stmt("Allow", "http:GET", "*"), stmt("Deny", "http:GET", "*", never))})
	if d.Effect != Allowed {
		t.Errorf("a Deny under a condition that never matches: %v", d.Effect)
	}
}

func TestEngineFailsClosed(t *testing.T) {
	var e Engine
	r := &Request{Principal: ParsePrincipal(alice), Action: "http:GET", Resource: route, Context: &Context{}}
	if d := e.Decide(r, "", nil); d.Effect != ImplicitDeny {
		t.Fatalf("no snapshot: %v", d.Effect)
	}
}

// TestEngineSwap decides continuously while snapshots are swapped: every
// decision sees one whole snapshot, old or new.
func TestEngineSwap(t *testing.T) {
	build := func(allow bool) *Snapshot {
		b := NewBuilder(1)
		eff := "Deny"
		if allow {
			eff = "Allow"
		}
		b.Add(mustPolicy(t, "p", stmt(eff, "http:GET", "*"), policy.Identity))
		b.Attach(IdentityKey{Account: "111122223333", Kind: User, Name: "alice"}, "p")
		s, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	allowS, denyS := build(true), build(false)
	e := NewEngine(allowS)
	r := &Request{Principal: ParsePrincipal(alice), Action: "http:GET", Resource: route, Context: &Context{}}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d := e.Decide(r, "", nil); d.Effect != Allowed && d.Effect != ExplicitDeny {
					t.Errorf("decision %v from neither snapshot", d.Effect)
					return
				}
			}
		}()
	}
	for i := 0; i < 1000; i++ {
		if i%2 == 0 {
			e.Swap(denyS)
		} else {
			e.Swap(allowS)
		}
	}
	time.Sleep(10 * time.Millisecond)
	close(stop)
	wg.Wait()
}

func TestBuilderUnknownPolicy(t *testing.T) {
	b := NewBuilder(1)
	b.Attach(IdentityKey{Account: "1", Kind: User, Name: "a"}, "missing")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Build: %v", err)
	}
}

// TestCompilerSharing: a compiler shares the compiled form of repeated
// patterns and conditions, and never confuses distinct ones.
func TestCompilerSharing(t *testing.T) {
	comp := NewCompiler()
	compile := func(doc string) *Policy {
		d, errs := policy.Check([]byte(doc), policy.Identity)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		p, err := comp.Compile("p", d)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cond := func(v string) string {
		return stmt("Allow", "s3:GetObject", "*", `,"Condition":{"StringEquals":{"aws:PrincipalTag/team":["`+v+`"]}}`)
	}
	a, b, c := compile(cond("payments")), compile(cond("payments")), compile(cond("pay"))
	if a.Statements[0].conds[0] != b.Statements[0].conds[0] || a.Statements[0].actions[0] != b.Statements[0].actions[0] {
		t.Error("identical conditions or patterns were compiled twice")
	}
	if a.Statements[0].conds[0] == c.Statements[0].conds[0] {
		t.Error("distinct conditions were shared")
	}
	// Values that join alike are still distinct.
	x := compile(stmt("Allow", "*", "*", `,"Condition":{"StringEquals":{"k":["a,b"]}}`))
	y := compile(stmt("Allow", "*", "*", `,"Condition":{"StringEquals":{"k":["a","b"]}}`))
	if x.Statements[0].conds[0] == y.Statements[0].conds[0] {
		t.Error("[\"a,b\"] and [\"a\",\"b\"] shared one compiled condition")
	}
	ctx := &Context{}
	ctx.SetString("aws:PrincipalTag/team", "pay")
	r := &Request{Principal: ParsePrincipal(alice), Action: "s3:GetObject", Resource: "x", Context: ctx}
	if d := Evaluate(r, &Policies{Identity: NewSet(a)}); d.Effect != ImplicitDeny {
		t.Errorf("team pay against payments: %v", d.Effect)
	}
	if d := Evaluate(r, &Policies{Identity: NewSet(c)}); d.Effect != Allowed {
		t.Errorf("team pay against pay: %v", d.Effect)
	}
}
