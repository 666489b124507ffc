package device

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

// contextOf returns the keys Context sets, as key → values.
func contextOf(t *testing.T, reg *Registry, id string, now time.Time) (map[string][]string, bool) {
	t.Helper()
	var c authz.Context
	ok := reg.Context(id, now, &c)
	out := map[string][]string{}
	for _, k := range c.Keys() {
		v, _ := c.Lookup(k)
		vals := []string{}
		for i := range v.Len() {
			vals = append(vals, v.At(i))
		}
		if v.Multi() {
			vals = append([]string{"(list)"}, vals...)
		}
		out[k] = vals
	}
	return out, ok
}

func checkKeys(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || !slices.Equal(g, w) {
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s set (%q), want it absent", k, got[k])
		}
	}
}

// TestContextKeys: the zt:Device* keys, exactly as docs/policy.md says,
// before and after a report, with and without an owner and groups.
func TestContextKeys(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()

	if got, ok := contextOf(t, n.reg, "dev-aaaaaaaaaaaaaaaa", testNow); ok || len(got) != 0 {
		t.Fatalf("unknown device: %v, %v", got, ok)
	}

	e, key := n.enroll(t)
	id := e.Device.ID
	got, ok := contextOf(t, n.reg, id, testNow)
	if !ok {
		t.Fatal("an enrolled device is unknown")
	}
	// No report yet: the device's registry facts, and not compliant.
	checkKeys(t, got, map[string][]string{
		keys.DeviceID:        {id},
		keys.DeviceManaged:   {"true"},
		keys.DeviceGroups:    {"(list)", "eng", "laptops"},
		keys.DeviceOwner:     {testOwner},
		keys.DeviceCompliant: {"false"},
	})

	n.clock.Advance(time.Minute)
	rep := n.report()
	rep.FirewallEnabled = false
	rep.OS, rep.OSVersion = PlatformLinux, "24.04"
	if _, err := n.reg.AcceptReport(ctx, n.signed(t, rep, key, e.Chain)); err != nil {
		t.Fatal(err)
	}
	got, _ = contextOf(t, n.reg, id, n.clock.Now().Add(90*time.Second+999*time.Millisecond))
	checkKeys(t, got, map[string][]string{
		keys.DeviceID:              {id},
		keys.DeviceManaged:         {"true"},
		keys.DeviceGroups:          {"(list)", "eng", "laptops"},
		keys.DeviceOwner:           {testOwner},
		keys.DeviceCompliant:       {"false"}, // no firewall
		keys.DevicePlatform:        {"linux"},
		keys.DeviceOSVersion:       {"24.04"},
		keys.DeviceDiskEncrypted:   {"true"},
		keys.DeviceFirewallEnabled: {"false"},
		keys.DeviceScreenLock:      {"true"},
		keys.DevicePostureAge:      {"90"},
	})
	// A report signed a little ahead of the server's clock is new, not
	// of negative age.
	got, _ = contextOf(t, n.reg, id, n.clock.Now().Add(-time.Minute))
	if g := got[keys.DevicePostureAge]; !slices.Equal(g, []string{"0"}) {
		t.Errorf("age of a report from the future: %q", g)
	}

	// A shared device in no group: no owner key, an empty list of groups.
	tok, _ := n.token(t, func(r *TokenRequest) { r.Owner, r.Groups, r.Managed = "", nil, false })
	shared, err := n.reg.Enroll(ctx, EnrollRequest{Token: tok, CSR: newCSR(t, newP256(t))})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = contextOf(t, n.reg, shared.Device.ID, n.clock.Now())
	checkKeys(t, got, map[string][]string{
		keys.DeviceID:        {shared.Device.ID},
		keys.DeviceManaged:   {"false"},
		keys.DeviceGroups:    {"(list)"},
		keys.DeviceCompliant: {"false"},
	})

	// A revoked device is no device.
	if _, err := n.reg.Revoke(ctx, id, "admin", "stolen"); err != nil {
		t.Fatal(err)
	}
	if got, ok := contextOf(t, n.reg, id, n.clock.Now()); ok || len(got) != 0 {
		t.Fatalf("revoked device: %v, %v", got, ok)
	}
	if n.reg.AuditDevice(id, n.clock.Now()) != nil {
		t.Error("AuditDevice describes a revoked device")
	}
}

// TestCompliance: a compliant device turns non-compliant when its last
// report grows older than the maximum posture age, and compliant again
// with a fresh report; a policy that requires compliance follows.
func TestCompliance(t *testing.T) {
	const maxAge = 30 * time.Minute
	n := newEnv(t, func(c *Config) { c.MaxPostureAge = maxAge })
	e, key := n.enroll(t)
	id := e.Device.ID
	pol, err := authz.CompileJSON("compliant-only", []byte(`{
		"Version": "2012-10-17",
		"Statement": [{"Effect": "Allow", "Action": "http:GET", "Resource": "*",
			"Condition": {"Bool": {"zt:DeviceCompliant": "true"}, "ForAnyValue:StringEquals": {"zt:DeviceGroups": "laptops"}}}]
	}`), policy.Identity)
	if err != nil {
		t.Fatal(err)
	}
	decide := func() authz.Effect {
		var c authz.Context
		n.reg.Context(id, n.clock.Now(), &c)
		d := authz.Evaluate(&authz.Request{
			Principal: authz.ParsePrincipal(testOwner), Action: "http:GET", Resource: "arn:zt:gateway::000000000000:route/wiki/x", Context: &c,
		}, &authz.Policies{Identity: authz.NewSet(pol)})
		return d.Effect
	}
	compliant := func() bool {
		a := n.reg.AuditDevice(id, n.clock.Now())
		return a != nil && a.Compliant
	}

	if compliant() || decide() != authz.ImplicitDeny {
		t.Fatal("a device that never reported is compliant")
	}
	if _, err := n.reg.AcceptReport(context.Background(), n.signed(t, n.report(), key, e.Chain)); err != nil {
		t.Fatal(err)
	}
	if !compliant() || decide() != authz.Allowed {
		t.Fatal("a fresh good report does not make the device compliant")
	}
	n.clock.Advance(maxAge)
	if !compliant() {
		t.Fatal("a report exactly the maximum age old is stale")
	}
	n.clock.Advance(time.Second)
	if compliant() || decide() != authz.ImplicitDeny {
		t.Fatal("a stale report keeps the device compliant")
	}
	got, _ := contextOf(t, n.reg, id, n.clock.Now())
	if g := got[keys.DevicePostureAge]; !slices.Equal(g, []string{"1801"}) {
		t.Errorf("posture age %q", g)
	}
	if _, err := n.reg.AcceptReport(context.Background(), n.signed(t, n.report(), key, e.Chain)); err != nil {
		t.Fatal(err)
	}
	if !compliant() || decide() != authz.Allowed {
		t.Fatal("a fresh report does not make the device compliant again")
	}
}

// TestContextAllocs: setting a request's device keys reads memory and
// allocates at most the posture age's text.
func TestContextAllocs(t *testing.T) {
	n := newEnv(t)
	e, key := n.enroll(t)
	n.clock.Advance(time.Second)
	if _, err := n.reg.AcceptReport(context.Background(), n.signed(t, n.report(), key, e.Chain)); err != nil {
		t.Fatal(err)
	}
	now := n.clock.Now().Add(time.Hour)
	var c authz.Context
	allocs := testing.AllocsPerRun(1000, func() {
		c.Reset()
		if !n.reg.Context(e.Device.ID, now, &c) {
			panic("unknown")
		}
	})
	if allocs > 1 {
		t.Fatalf("Context allocates %v times, budget 1", allocs)
	}
}

func BenchmarkContext(b *testing.B) {
	n := newEnv(b)
	e, key := n.enroll(b)
	n.clock.Advance(time.Second)
	if _, err := n.reg.AcceptReport(context.Background(), n.signed(b, n.report(), key, e.Chain)); err != nil {
		b.Fatal(err)
	}
	now := n.clock.Now().Add(time.Minute)
	var c authz.Context
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		n.reg.Context(e.Device.ID, now, &c)
	}
}
