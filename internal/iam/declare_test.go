package iam

import (
	"context"
	"errors"
	"testing"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

func TestDeclare(t *testing.T) {
	ctx := context.Background()
	d, _, _ := newDirectory(t)
	decl := Declaration{
		Policies: []ManagedPolicy{{Name: "ReadOnly", Path: "/", Document: allowGet}},
		Groups:   []Group{{Name: "devs", Path: "/", Attachments: Attachments{Attached: []string{"ReadOnly"}}}},
		Users:    []User{{Name: "alice", Path: "/", Groups: []string{"devs"}, Tags: []Tag{{"team", "blue"}}}},
		Roles:    []Role{{Name: "deployer", Path: "/ci/", TrustPolicy: trustAlice, Attachments: Attachments{Inline: map[string]string{"no-delete": denyDelete}, Attached: []string{"ReadOnly"}}}},
	}
	n, err := d.Declare(ctx, decl)
	if err != nil || n != 4 {
		t.Fatalf("Declare: %d %v", n, err)
	}
	r1, err := d.GetRole(ctx, "deployer")
	must(t, err)
	// Declaring again changes nothing that identifies the entities.
	if _, err := d.Declare(ctx, decl); err != nil {
		t.Fatal(err)
	}
	r2, err := d.GetRole(ctx, "deployer")
	must(t, err)
	if r1.ID != r2.ID || !r1.Created.Equal(r2.Created) || r2.ARN() != "arn:zt:iam::111122223333:role/ci/deployer" {
		t.Fatalf("redeclared role: %+v, was %+v", r2, r1)
	}
	snap, err := d.Snapshot(ctx)
	must(t, err)
	decide := func(p, action string) authz.Effect {
		return snap.Decide(&authz.Request{Principal: authz.ParsePrincipal(p), Action: action, Resource: "*", Context: keys.Map{}}, "", nil).Effect
	}
	if decide("arn:zt:iam::111122223333:user/alice", "iam:GetRole") != authz.Allowed ||
		decide("arn:zt:iam::111122223333:user/alice", "iam:CreateRole") != authz.ImplicitDeny ||
		decide("arn:zt:sts::111122223333:assumed-role/deployer/s", "iam:DeleteUser") != authz.ExplicitDeny {
		t.Fatal("declared policies do not decide as declared")
	}

	// A bad document anywhere applies nothing.
	bad := decl
	bad.Policies = append([]ManagedPolicy{}, decl.Policies...)
	bad.Policies = append(bad.Policies, ManagedPolicy{Name: "New", Path: "/", Document: allowGet})
	bad.Roles = []Role{{Name: "broken", Path: "/", TrustPolicy: allowAll}}
	if _, err := d.Declare(ctx, bad); !errors.Is(err, ErrMalformedPolicy) {
		t.Fatalf("bad trust policy: %v", err)
	}
	if _, err := d.GetPolicy(ctx, "arn:zt:iam::111122223333:policy/New"); !errors.Is(err, ErrNoSuchEntity) {
		t.Fatalf("a refused declaration was partly applied: %v", err)
	}
	// A reference to a policy that exists nowhere applies nothing.
	bad = decl
	bad.Users = []User{{Name: "carol", Path: "/", Attachments: Attachments{Attached: []string{"Nope"}}}}
	if _, err := d.Declare(ctx, bad); err == nil {
		t.Fatal("a dangling reference was accepted")
	}
	if _, err := d.GetUser(ctx, "carol"); !errors.Is(err, ErrNoSuchEntity) {
		t.Fatalf("a refused declaration was partly applied: %v", err)
	}
}
