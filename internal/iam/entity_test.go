package iam

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

const (
	allowAll   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	allowGet   = `{"Version":"2012-10-17","Statement":[{"Sid":"Get","Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}`
	denyDelete = `{"Version":"2012-10-17","Statement":[{"Sid":"NoDelete","Effect":"Deny","Action":"iam:Delete*","Resource":"*"}]}`
	trustAlice = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:zt:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}`
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRolesGroupsPolicies(t *testing.T) {
	ctx := context.Background()
	d, _, _ := newDirectory(t)
	_, err := d.CreateUser(ctx, "alice")
	must(t, err)
	r, err := d.AddRole(ctx, Role{Name: "deployer", Path: "/ci/", TrustPolicy: trustAlice, Tags: []Tag{{"team", "blue"}}})
	must(t, err)
	if !regexp.MustCompile(`^AROA[A-Z2-7]{16}$`).MatchString(r.ID) || r.ARN() != "arn:zt:iam::111122223333:role/ci/deployer" || r.MaxSession() != time.Hour {
		t.Fatalf("role: %+v %s", r, r.ARN())
	}
	got, err := d.RoleByARN(ctx, r.ARN())
	if err != nil || got.ID != r.ID {
		t.Fatalf("RoleByARN: %+v %v", got, err)
	}
	if _, err := d.RoleByARN(ctx, "arn:zt:iam::111122223333:role/deployer"); !errors.Is(err, ErrNoSuchEntity) {
		t.Fatalf("RoleByARN without the path: %v", err)
	}
	p, err := d.CreatePolicy(ctx, ManagedPolicy{Name: "ReadOnly", Document: allowGet})
	must(t, err)
	must(t, d.AttachPolicy(ctx, HolderRole, "deployer", p.ARN()))
	must(t, d.PutPolicy(ctx, HolderRole, "deployer", "no-delete", denyDelete))
	_, err = d.AddGroup(ctx, Group{Name: "devs"})
	must(t, err)
	must(t, d.PutPolicy(ctx, HolderGroup, "devs", "all", allowAll))
	must(t, d.AddUserToGroup(ctx, "devs", "alice"))
	must(t, d.SetBoundary(ctx, HolderUser, "alice", p.ARN()))

	for _, tc := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"duplicate role", ErrEntityExists, func() error { _, err := d.AddRole(ctx, Role{Name: "deployer", TrustPolicy: trustAlice}); return err }},
		{"role without trust", ErrInvalidInput, func() error { _, err := d.AddRole(ctx, Role{Name: "x"}); return err }},
		{"identity policy as trust", ErrMalformedPolicy, func() error { _, err := d.AddRole(ctx, Role{Name: "x", TrustPolicy: allowAll}); return err }},
		{"trust policy as identity", ErrMalformedPolicy, func() error { return d.PutPolicy(ctx, HolderUser, "alice", "p", trustAlice) }},
		{"bad JSON", ErrMalformedPolicy, func() error { return d.PutPolicy(ctx, HolderUser, "alice", "p", `{"Statement":`) }},
		{"bad path", ErrInvalidInput, func() error {
			_, err := d.AddRole(ctx, Role{Name: "x", Path: "ci", TrustPolicy: trustAlice})
			return err
		}},
		{"max session too long", ErrInvalidInput, func() error {
			_, err := d.AddRole(ctx, Role{Name: "x", TrustPolicy: trustAlice, MaxSessionDuration: 13 * time.Hour})
			return err
		}},
		{"duplicate tag keys", ErrInvalidInput, func() error { return d.TagRole(ctx, "deployer", []Tag{{"A", "1"}, {"a", "2"}}) }},
		{"reserved tag", ErrInvalidInput, func() error { return d.TagRole(ctx, "deployer", []Tag{{"aws:x", "1"}}) }},
		{"attach unknown policy", ErrNoSuchEntity, func() error {
			return d.AttachPolicy(ctx, HolderRole, "deployer", "arn:zt:iam::111122223333:policy/Nope")
		}},
		{"delete role with policies", ErrDeleteConflict, func() error { return d.DeleteRole(ctx, "deployer") }},
		{"delete attached policy", ErrDeleteConflict, func() error { return d.DeletePolicy(ctx, p.ARN()) }},
		{"delete group with members", ErrDeleteConflict, func() error { return d.DeleteGroup(ctx, "devs") }},
		{"delete user in a group", ErrDeleteConflict, func() error { return d.DeleteUser(ctx, "alice") }},
		{"unknown role", ErrNoSuchEntity, func() error { return d.UpdateAssumeRolePolicy(ctx, "nobody", trustAlice) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}

	// Decisions follow the stored policies: alice has everything through
	// her group, bounded by ReadOnly; the role has ReadOnly and a deny.
	snap, err := d.Snapshot(ctx)
	must(t, err)
	decide := func(principal, action string) authz.Effect {
		ctxKeys := keys.Map{}
		return snap.Decide(&authz.Request{Principal: authz.ParsePrincipal(principal), Action: action, Resource: "*", Context: ctxKeys}, "", nil).Effect
	}
	alice := "arn:zt:iam::111122223333:user/alice"
	session := "arn:zt:sts::111122223333:assumed-role/deployer/s1"
	for _, tc := range []struct {
		principal, action string
		want              authz.Effect
	}{
		{alice, "iam:GetUser", authz.Allowed},
		{alice, "iam:CreateUser", authz.ImplicitDeny}, // the boundary
		{session, "iam:GetRole", authz.Allowed},
		{session, "iam:DeleteRole", authz.ExplicitDeny},
		{session, "iam:CreateRole", authz.ImplicitDeny},
	} {
		if got := decide(tc.principal, tc.action); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.principal, tc.action, got, tc.want)
		}
	}
	// The trust policy is the role's resource policy.
	ar := &authz.Request{Principal: authz.ParsePrincipal(alice), Action: "sts:AssumeRole", Resource: r.ARN(), Context: keys.Map{}}
	if got := snap.Decide(ar, r.ARN(), nil); got.Effect != authz.Allowed || got.Matched()[0].Policy.Name != TrustName("deployer") {
		t.Fatalf("assume: %v", got.Effect)
	}

	// Unwinding in order deletes everything.
	must(t, d.DetachPolicy(ctx, HolderRole, "deployer", p.ARN()))
	must(t, d.DeleteInlinePolicy(ctx, HolderRole, "deployer", "no-delete"))
	must(t, d.DeleteRole(ctx, "deployer"))
	must(t, d.SetBoundary(ctx, HolderUser, "alice", ""))
	must(t, d.DeletePolicy(ctx, p.ARN()))
	must(t, d.RemoveUserFromGroup(ctx, "devs", "alice"))
	must(t, d.DeleteInlinePolicy(ctx, HolderGroup, "devs", "all"))
	must(t, d.DeleteGroup(ctx, "devs"))
	must(t, d.DeleteUser(ctx, "alice"))
}

// A stored policy that no longer compiles denies its holder everything
// rather than dropping its statements, which could drop a Deny.
func TestSnapshotFailsClosed(t *testing.T) {
	ctx := context.Background()
	d, st, _ := newDirectory(t)
	_, err := d.CreateUser(ctx, "alice")
	must(t, err)
	must(t, d.PutPolicy(ctx, HolderUser, "alice", "all", allowAll))
	// Damage the stored document behind the directory's back.
	rec, err := st.Get(ctx, KindUser, "alice")
	must(t, err)
	var u User
	must(t, json.Unmarshal(rec.Value, &u))
	u.Inline["broken"] = `{"Statement": 7}`
	b, _ := json.Marshal(u)
	_, err = st.Update(ctx, func(tx store.Tx) error { _, err := tx.Put(ctx, KindUser, "alice", b); return err })
	must(t, err)
	snap, err := d.Snapshot(ctx)
	must(t, err)
	got := snap.Decide(&authz.Request{Principal: authz.ParsePrincipal("arn:zt:iam::111122223333:user/alice"), Action: "iam:GetUser", Resource: "*", Context: keys.Map{}}, "", nil)
	if got.Effect != authz.ExplicitDeny {
		t.Fatalf("a damaged policy gave %v", got.Effect)
	}
}

// A resource policy that does not compile (a route's, without the
// Principal a resource policy needs) denies everyone the resource: its
// Deny is not dropped, and the stand-in applies to every caller.
func TestResourcePolicyFailsClosed(t *testing.T) {
	ctx := context.Background()
	d, _, _ := newDirectory(t)
	_, err := d.CreateUser(ctx, "carol")
	must(t, err)
	must(t, d.PutPolicy(ctx, HolderUser, "carol", "all", allowAll))
	const route = "arn:zt:gateway::111122223333:route/a"
	broken := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"http:*","Resource":"` + route + `/secret"}]}`
	snap, err := d.SnapshotWith(ctx, map[string]string{route: broken})
	must(t, err)
	for _, res := range []string{route + "/secret", route + "/open"} {
		got := snap.Decide(&authz.Request{Principal: authz.ParsePrincipal("arn:zt:iam::111122223333:user/carol"), Action: "http:GET",
			Resource: res, Context: keys.Map{}}, route, nil)
		if got.Effect != authz.ExplicitDeny {
			t.Errorf("%s under a resource policy that does not compile: %v, want an explicit deny", res, got.Effect)
		}
	}
}

func TestPoliciesFollowTheStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, _, _ := newDirectory(t)
	// A second directory on the same store stands for another node.
	p := NewPolicies(d)
	must(t, p.Load(ctx))
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	_, err := d.CreateUser(ctx, "alice")
	must(t, err)
	must(t, d.PutPolicy(ctx, HolderUser, "alice", "all", allowAll))
	req := &authz.Request{Principal: authz.ParsePrincipal("arn:zt:iam::111122223333:user/alice"), Action: "iam:GetUser", Resource: "*", Context: keys.Map{}}
	deadline := time.Now().Add(5 * time.Second)
	for p.Engine().Decide(req, "", nil).Effect != authz.Allowed {
		if time.Now().After(deadline) {
			t.Fatal("the snapshot did not follow the store within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNamesIgnoreCase: as in AWS, a user, role, group or policy cannot be
// created under a name that differs from an existing one only in case.
func TestNamesIgnoreCase(t *testing.T) {
	d, _, _ := newDirectory(t)
	ctx := context.Background()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}`
	for _, tc := range []struct {
		what   string
		create func(name string) error
	}{
		{"user", func(n string) error { _, err := d.CreateUser(ctx, n); return err }},
		{"role", func(n string) error { _, err := d.AddRole(ctx, Role{Name: n, TrustPolicy: trust}); return err }},
		{"group", func(n string) error { _, err := d.AddGroup(ctx, Group{Name: n}); return err }},
		{"policy", func(n string) error { _, err := d.CreatePolicy(ctx, ManagedPolicy{Name: n, Document: doc}); return err }},
	} {
		if err := tc.create("Deployers"); err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if err := tc.create("DEPLOYERS"); !errors.Is(err, ErrEntityExists) {
			t.Errorf("%s DEPLOYERS beside Deployers: %v", tc.what, err)
		}
	}
}

// TestNamesRacePostgres: on PostgreSQL, whose transactions read what
// others committed before each statement, users created at once under
// names differing only in case still end as one.
func TestNamesRacePostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	kek, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Two nodes on one database, as a cluster runs.
	var nodes []*Directory
	for _, name := range []string{"a", "b"} {
		st, err := sqlstore.Open(ctx, sqlstore.Options{Driver: sqlstore.Postgres, DSN: dsn, Node: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		nodes = append(nodes, New(Config{Store: st, KEK: kek, Account: "111122223333"}))
	}
	d := nodes[0]
	names := []string{"alice", "ALICE", "Alice", "aLiCe", "alicE", "ALIce", "aliCE", "AlIcE"}
	var wg sync.WaitGroup
	var made atomic.Int32
	for i, n := range names {
		d := nodes[i%2]
		wg.Go(func() {
			if _, err := d.CreateUser(ctx, n); err == nil {
				made.Add(1)
			} else if !errors.Is(err, ErrEntityExists) {
				t.Errorf("CreateUser %s: %v", n, err)
			}
		})
	}
	wg.Wait()
	users, err := d.ListUsers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if made.Load() != 1 || len(users) != 1 {
		t.Fatalf("%d creates succeeded, %d users: %v", made.Load(), len(users), users)
	}
}
