package authz

import (
	"testing"

	"github.com/ztgate/ztgate/internal/policy"
)

// FuzzEvaluate decides arbitrary requests against arbitrary policies: it
// must never panic, and the same request must always get the same
// decision.
func FuzzEvaluate(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::b/${aws:username}/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","NotAction":"s3:*","Resource":"*"}]}`,
		"arn:zt:iam::111122223333:user/alice", "s3:GetObject", "arn:aws:s3:::b/alice/x", "aws:SourceIp", "10.1.2.3")
	f.Add(`{"Statement":[{"Effect":"Allow","NotAction":["a:*"],"NotResource":"x?y","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["a*"]},"Null":{"k":"true"}}}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}]}`,
		"arn:zt:sts::111122223333:assumed-role/r/s", "a:b", "xzy", "k", "v")
	f.Fuzz(func(t *testing.T, identity, resource, principal, action, res, key, value string) {
		var ps Policies
		if doc, err := policy.Parse([]byte(identity)); err == nil {
			if p, err := Compile("identity", doc); err == nil {
				ps.Identity = NewSet(p)
			}
		}
		if doc, err := policy.Parse([]byte(resource)); err == nil {
			if p, err := Compile("resource", doc); err == nil {
				ps.Resource = NewSet(p)
			}
		}
		ctx := &Context{}
		ctx.SetString(key, value)
		r := &Request{Principal: ParsePrincipal(principal), Action: action, Resource: res, Context: ctx}
		d1 := Evaluate(r, &ps)
		d2 := Evaluate(r, &ps)
		if d1.Effect != d2.Effect || d1.BlockedBy != d2.BlockedBy || len(d1.Matched()) != len(d2.Matched()) {
			t.Fatalf("nondeterministic: %+v vs %+v", d1, d2)
		}
		for _, s := range d1.Matched() {
			if (d1.Effect == Allowed) != s.Allow {
				t.Fatalf("decision %v explained by Allow=%v", d1.Effect, s.Allow)
			}
		}
	})
}
