package iam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/store"
)

// denyAllName names the policy that stands in for one that cannot be
// compiled: a stored policy that no longer compiles (written by another
// version, or damaged) must not silently drop a Deny, so the principal
// holding it is denied everything until it is fixed.
const denyAllName = "ztgate/deny-all"

var denyAll = func() *authz.Policy {
	p, err := authz.CompileJSON(denyAllName, []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"UnreadablePolicy","Effect":"Deny","Action":"*","Resource":"*"}]}`), policy.Identity)
	if err != nil {
		panic(err)
	}
	return p
}()

// denyEveryone is denyAll for a resource or trust policy, whose statements
// apply only to the principals they name: it names every principal.
var denyEveryone = func() *authz.Policy {
	p, err := authz.CompileJSON(denyAllName, []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"UnreadablePolicy","Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}`), policy.Resource)
	if err != nil {
		panic(err)
	}
	return p
}()

// InlineName is how decisions name an inline policy: "user/alice/inline/p1".
func InlineName(h Holder, holder, policyName string) string {
	return h.what() + "/" + holder + "/inline/" + policyName
}

// TrustName is how decisions name a role's trust policy.
func TrustName(role string) string { return "role/" + role + "/trust" }

// Snapshot reads every user, group, role and managed policy and builds the
// policy snapshot decisions are made with: identity policies (inline,
// managed, and those of the user's groups), permissions boundaries, and
// each role's trust policy as the resource policy of its ARN.
func (d *Directory) Snapshot(ctx context.Context) (*authz.Snapshot, error) {
	return d.SnapshotWith(ctx, nil)
}

// SnapshotWith is Snapshot with resource policies from elsewhere (the
// configuration's gateway routes), by resource key: each is compiled as a
// resource policy named "resource/KEY" and attached to its key.
func (d *Directory) SnapshotWith(ctx context.Context, resources map[string]string) (*authz.Snapshot, error) {
	rev, err := d.store.Revision(ctx)
	if err != nil {
		return nil, fmt.Errorf("iam: snapshot: %w", err)
	}
	users, err := list[User](ctx, d.store, KindUser)
	if err != nil {
		return nil, err
	}
	groups, err := list[Group](ctx, d.store, KindGroup)
	if err != nil {
		return nil, err
	}
	roles, err := list[Role](ctx, d.store, KindRole)
	if err != nil {
		return nil, err
	}
	managed, err := list[ManagedPolicy](ctx, d.store, KindPolicy)
	if err != nil {
		return nil, err
	}
	sb := snapshotBuilder{b: authz.NewBuilder(rev), c: authz.NewCompiler(), have: map[string]bool{}, log: d.log}
	sb.b.Add(denyAll)
	sb.have[denyAllName] = true
	for _, p := range managed {
		sb.add(p.ARN(), p.Document, policy.Identity)
	}
	byGroup := make(map[string]Group, len(groups))
	for _, g := range groups {
		byGroup[g.Name] = g
	}
	for _, u := range users {
		names := sb.attachments(HolderUser, u.Name, u.Attachments)
		for _, gn := range u.Groups {
			if g, ok := byGroup[gn]; ok {
				names = append(names, sb.attachments(HolderGroup, g.Name, g.Attachments)...)
			}
		}
		k := authz.IdentityKey{Account: u.Account, Kind: authz.User, Name: u.Name}
		sb.b.Attach(k, names...)
		sb.b.SetID(k, u.ID)
		if u.Boundary != "" {
			sb.b.SetBoundary(k, sb.ref(u.Boundary))
		}
	}
	for _, r := range roles {
		k := authz.IdentityKey{Account: r.Account, Kind: authz.Role, Name: r.Name}
		sb.b.Attach(k, sb.attachments(HolderRole, r.Name, r.Attachments)...)
		sb.b.SetID(k, r.ID)
		if r.Boundary != "" {
			sb.b.SetBoundary(k, sb.ref(r.Boundary))
		}
		trust := TrustName(r.Name)
		sb.add(trust, r.TrustPolicy, policy.Trust)
		sb.b.AttachResource(r.ARN(), trust)
	}
	for _, key := range slices.Sorted(maps.Keys(resources)) {
		name := "resource/" + key
		sb.add(name, resources[key], policy.Resource)
		sb.b.AttachResource(key, name)
	}
	return sb.b.Build()
}

type snapshotBuilder struct {
	b    *authz.Builder
	c    *authz.Compiler
	have map[string]bool
	log  *slog.Logger
}

// add compiles a stored document; one that does not compile is replaced
// by a deny-all policy under its name.
func (sb *snapshotBuilder) add(name, doc string, kind policy.Kind) {
	sb.have[name] = true
	parsed, errs := policy.Check([]byte(doc), kind)
	var p *authz.Policy
	var err error
	if len(errs) > 0 {
		err = errs
	} else {
		p, err = sb.c.Compile(name, parsed)
	}
	if err != nil {
		sb.log.Error("a stored policy does not compile: its holders are denied everything until it is fixed", "policy", name, "err", err)
		deny := denyAll
		if kind != policy.Identity {
			deny = denyEveryone // on the resource: everyone is denied it
		}
		p = &authz.Policy{Name: name, Statements: deny.Statements}
	}
	sb.b.Add(p)
}

// ref returns name if it was registered, else the deny-all policy: an
// attachment to a policy that is gone fails closed.
func (sb *snapshotBuilder) ref(name string) string {
	if sb.have[name] {
		return name
	}
	sb.log.Error("an attached policy is missing: its holder is denied everything until it is fixed", "policy", name)
	return denyAllName
}

func (sb *snapshotBuilder) attachments(h Holder, holder string, a Attachments) []string {
	names := make([]string, 0, len(a.Inline)+len(a.Attached))
	for _, pn := range slices.Sorted(maps.Keys(a.Inline)) {
		n := InlineName(h, holder, pn)
		sb.add(n, a.Inline[pn], policy.Identity)
		names = append(names, n)
	}
	for _, arn := range a.Attached {
		names = append(names, sb.ref(arn))
	}
	return names
}

// Policies keeps a node's policy engine current with the store: Load
// builds the first snapshot, Run rebuilds it after every change to an
// identity or policy made by any node, and Refresh rebuilds it at once, so
// that a node sees its own writes before it answers the request that made
// them.
type Policies struct {
	dir    *Directory
	engine *authz.Engine
	log    *slog.Logger
	// resources are resource policies from the configuration, by key.
	resources map[string]string

	mu sync.Mutex // serializes rebuilds
}

// NewPolicies returns a watcher over d's store whose engine denies
// everything until Load.
func NewPolicies(d *Directory) *Policies {
	return &Policies{dir: d, engine: authz.NewEngine(nil), log: d.log}
}

// SetResources sets resource policies that come from the configuration
// rather than the store (the gateway routes'), by resource key. Call it
// before Load.
func (p *Policies) SetResources(docs map[string]string) {
	p.mu.Lock()
	p.resources = docs
	p.mu.Unlock()
}

// Engine is the policy engine decisions are made with.
func (p *Policies) Engine() *authz.Engine { return p.engine }

// Snapshot is the current snapshot (nil before Load).
func (p *Policies) Snapshot() *authz.Snapshot { return p.engine.Snapshot() }

// Load builds the first snapshot.
func (p *Policies) Load(ctx context.Context) error { return p.Refresh(ctx) }

// Refresh rebuilds the snapshot from the store now.
func (p *Policies) Refresh(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, err := p.dir.SnapshotWith(ctx, p.resources)
	if err != nil {
		return err
	}
	if cur := p.engine.Snapshot(); cur != nil && cur.Revision() > s.Revision() {
		return nil // a concurrent refresh installed a newer one
	}
	p.engine.Swap(s)
	return nil
}

// Run follows the store's change feed from the snapshot's revision until
// ctx ends, rebuilding after changes to IAM records. Changes that arrive
// together are applied with one rebuild.
func (p *Policies) Run(ctx context.Context) error {
	s := p.engine.Snapshot()
	if s == nil {
		return errors.New("iam: policies: Run before Load")
	}
	sub := p.dir.store.Watch(s.Revision())
	for {
		c, err := sub.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrResync) {
			return fmt.Errorf("iam: policies: %w", err)
		}
		if err == nil && !isIAM(c.Kind) {
			continue
		}
		// Gather what follows within a moment, then rebuild once.
		for {
			wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			c, err := sub.Next(wctx)
			cancel()
			if err != nil {
				break
			}
			_ = c
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := p.Refresh(ctx); err != nil {
			p.log.Error("rebuilding the policy snapshot failed; keeping the previous one", "err", err)
			continue
		}
		sub = p.dir.store.Watch(p.engine.Snapshot().Revision())
	}
}

// isIAM reports the kinds the policy snapshot is built from: not access
// keys nor their last use, which change without changing any decision.
func isIAM(kind string) bool {
	return strings.HasPrefix(kind, "iam-") && kind != KindAccessKey && kind != KindKeyUse
}
