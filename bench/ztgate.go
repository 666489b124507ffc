package bench

import (
	"fmt"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/authz/workload"
	"github.com/ztgate/ztgate/internal/policy"
)

// Ztgate is ztgate's engine: a snapshot of compiled policies attached to
// identities, as internal/authz's own benchmark builds it.
type Ztgate struct{ snap *authz.Snapshot }

var _ Engine = (*Ztgate)(nil)

// BuildZtgate checks and compiles each policy from its IAM JSON and
// attaches it to its user.
func BuildZtgate(ps []workload.Policy) (Engine, error) {
	b := authz.NewBuilder(1)
	comp := authz.NewCompiler() // shares what the policies repeat
	for _, p := range ps {
		doc, errs := policy.Check(p.JSON(), policy.Identity)
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %v", p.Name, errs)
		}
		cp, err := comp.Compile(p.Name, doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		b.Add(cp)
		b.Attach(authz.IdentityKey{Account: workload.Account, Kind: authz.User, Name: p.Principal}, p.Name)
	}
	snap, err := b.Build()
	if err != nil {
		return nil, err
	}
	return &Ztgate{snap: snap}, nil
}

// Prepare builds the request and its context as the gateway would.
func (z *Ztgate) Prepare(wr workload.Request) (Prepared, error) {
	ctx := &authz.Context{}
	ctx.SetString("aws:SourceIp", wr.SourceIP)
	ctx.SetString("aws:PrincipalTag/team", wr.Team)
	ctx.SetString("aws:ResourceTag/env", wr.Environment)
	p := authz.ParsePrincipal(workload.PrincipalARN(wr.Principal))
	ctx.SetDefaults(p, wr.Time)
	return &ztgateRequest{snap: z.snap, req: &authz.Request{Principal: p, Action: wr.Action, Resource: wr.Resource, Context: ctx}}, nil
}

type ztgateRequest struct {
	snap *authz.Snapshot
	req  *authz.Request
}

func (r *ztgateRequest) Allowed() (bool, error) {
	d := r.snap.Decide(r.req, "", nil)
	return d.Effect == authz.Allowed, nil
}
