package authz

import (
	"testing"

	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

// A role's trust policy must allow: an identity policy alone lets no one
// assume a role, even within the role's account.
func TestResourceRequired(t *testing.T) {
	compile := func(doc string, kind policy.Kind) *Set {
		t.Helper()
		p, err := CompileJSON("p", []byte(doc), kind)
		if err != nil {
			t.Fatal(err)
		}
		return NewSet(p)
	}
	identity := compile(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`, policy.Identity)
	trustBob := compile(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:zt:iam::111122223333:user/bob"},"Action":"sts:AssumeRole"}]}`, policy.Trust)
	trustAccount := compile(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`, policy.Trust)
	const role = "arn:zt:iam::111122223333:role/r"
	for _, tc := range []struct {
		name     string
		caller   string
		identity *Set
		trust    *Set
		want     Effect
	}{
		{"identity alone", "arn:zt:iam::111122223333:user/eve", identity, trustBob, ImplicitDeny},
		{"no trust policy", "arn:zt:iam::111122223333:user/eve", identity, nil, ImplicitDeny},
		{"trust names the caller", "arn:zt:iam::111122223333:user/bob", nil, trustBob, Allowed},
		{"trust names the account, no identity policy", "arn:zt:iam::111122223333:user/eve", nil, trustAccount, ImplicitDeny},
		{"trust names the account, identity allows", "arn:zt:iam::111122223333:user/eve", identity, trustAccount, Allowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Principal: ParsePrincipal(tc.caller), Action: "sts:AssumeRole", Resource: role, Context: keys.Map{}}
			ps := Policies{Identity: tc.identity, Resource: tc.trust, ResourceRequired: true}
			if got := Evaluate(r, &ps); got.Effect != tc.want {
				t.Fatalf("%v, want %v", got.Effect, tc.want)
			}
			// Without the rule, an identity allow alone would do.
			if tc.name == "identity alone" {
				ps.ResourceRequired = false
				if got := Evaluate(r, &ps); got.Effect != Allowed {
					t.Fatalf("same-account identity allow: %v", got.Effect)
				}
			}
		})
	}
}
