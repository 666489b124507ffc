package authz

import (
	"fmt"
	"sort"
	"sync/atomic"
)

// IdentityKey names a principal's policy attachments: a user, a role (whose
// sessions share its policies), or another identity (a group, a workload).
type IdentityKey struct {
	Account string
	Kind    PrincipalKind // User or Role; Workload for SPIFFE IDs
	Name    string        // user or role name, or the SPIFFE ID
}

// keyOf returns the attachments key of a caller, without allocating.
func keyOf(p *Principal) IdentityKey {
	switch p.Kind {
	case RoleSession:
		return IdentityKey{Account: p.Account, Kind: Role, Name: p.Name}
	case Workload:
		return IdentityKey{Kind: Workload, Name: p.ARN}
	}
	return IdentityKey{Account: p.Account, Kind: p.Kind, Name: p.Name}
}

// Snapshot is an immutable, indexed view of every policy and attachment,
// built once per change and shared by all decisions.
type Snapshot struct {
	revision    int64
	policies    map[string]*Policy
	identities  map[IdentityKey]*attachments
	resources   map[string]*Set
	guardrails  map[string][]*Set // by account
	rguardrails map[string][]*Set // by resource account
}

type attachments struct {
	identity *Set
	boundary *Set
	id       string // the identity's unique id ("AIDA…", "AROA…"), when known
}

// Revision returns the store revision the snapshot was built from.
func (s *Snapshot) Revision() int64 { return s.revision }

// Policy returns the policy registered under name, or nil.
func (s *Snapshot) Policy(name string) *Policy { return s.policies[name] }

// Len returns the number of policies.
func (s *Snapshot) Len() int { return len(s.policies) }

// Holds reports whether the snapshot holds the user or role behind p
// under the unique id id: false once it was deleted, or deleted and
// created again under the same name (a new id). Credentials issued to the
// old one must not act as the new one, nor as a ghost. A workload,
// anonymous or service caller has no such identity: true.
func (s *Snapshot) Holds(p *Principal, id string) bool {
	switch p.Kind {
	case User, RoleSession, Role:
	default:
		return true
	}
	a := s.identities[keyOf(p)]
	return a != nil && a.id != "" && a.id == id
}

// Policies gathers the policies bearing on a request. The session set, if
// any, comes with the caller's credentials; resourceKey names the resource
// policy (a route, a bucket), "" for none. It does not allocate.
func (s *Snapshot) Policies(r *Request, resourceKey string, session *Set) Policies {
	ps := Policies{Session: session}
	if a := s.identities[keyOf(&r.Principal)]; a != nil {
		ps.Identity, ps.Boundary = a.identity, a.boundary
	}
	if resourceKey != "" {
		ps.Resource = s.resources[resourceKey]
	}
	if r.Principal.Account != "" {
		ps.Guardrails = s.guardrails[r.Principal.Account]
	}
	acct := r.ResourceAccount
	if acct == "" {
		acct = accountOfARN(r.Resource)
	}
	if acct == "" {
		acct = r.Principal.Account
	}
	ps.ResourceGuardrails = s.rguardrails[acct]
	return ps
}

// Decide evaluates a request against the snapshot.
func (s *Snapshot) Decide(r *Request, resourceKey string, session *Set) Decision {
	ps := s.Policies(r, resourceKey, session)
	return Evaluate(r, &ps)
}

// Builder assembles a Snapshot. It is not safe for concurrent use.
type Builder struct {
	revision    int64
	policies    map[string]*Policy
	attach      map[IdentityKey][]string
	boundary    map[IdentityKey]string
	ids         map[IdentityKey]string
	resources   map[string][]string
	guardrails  map[string][][]string
	rguardrails map[string][][]string
}

// NewBuilder returns an empty builder for revision rev.
func NewBuilder(rev int64) *Builder {
	return &Builder{
		revision: rev, policies: map[string]*Policy{}, attach: map[IdentityKey][]string{},
		boundary: map[IdentityKey]string{}, ids: map[IdentityKey]string{}, resources: map[string][]string{},
		guardrails: map[string][][]string{}, rguardrails: map[string][][]string{},
	}
}

// Add registers a compiled policy under its name.
func (b *Builder) Add(p *Policy) { b.policies[p.Name] = p }

// Attach attaches named policies to an identity.
func (b *Builder) Attach(k IdentityKey, names ...string) {
	b.attach[k] = append(b.attach[k], names...)
}

// SetID records the unique id of the user or role k names (see Holds).
func (b *Builder) SetID(k IdentityKey, id string) { b.ids[k] = id }

// SetBoundary sets an identity's permissions boundary.
func (b *Builder) SetBoundary(k IdentityKey, name string) { b.boundary[k] = name }

// AttachResource attaches named policies to a resource key.
func (b *Builder) AttachResource(key string, names ...string) {
	b.resources[key] = append(b.resources[key], names...)
}

// SetGuardrails sets an account's guardrail levels (SCP-like), outermost
// first; resource true sets resource guardrails (RCP-like) instead.
func (b *Builder) SetGuardrails(account string, resource bool, levels ...[]string) {
	if resource {
		b.rguardrails[account] = levels
	} else {
		b.guardrails[account] = levels
	}
}

// Build indexes everything into a Snapshot. Every attachment must name a
// registered policy.
func (b *Builder) Build() (*Snapshot, error) {
	s := &Snapshot{
		revision: b.revision, policies: b.policies,
		identities: make(map[IdentityKey]*attachments, len(b.attach)),
		resources:  make(map[string]*Set, len(b.resources)),
		guardrails: map[string][]*Set{}, rguardrails: map[string][]*Set{},
	}
	var missing []string
	set := func(names []string) *Set {
		ps := make([]*Policy, 0, len(names))
		for _, n := range names {
			p, ok := b.policies[n]
			if !ok {
				missing = append(missing, n)
				continue
			}
			ps = append(ps, p)
		}
		return NewSet(ps...)
	}
	for k, names := range b.attach {
		s.identities[k] = &attachments{identity: set(names)}
	}
	for k, name := range b.boundary {
		a := s.identities[k]
		if a == nil {
			a = &attachments{identity: NewSet()}
			s.identities[k] = a
		}
		a.boundary = set([]string{name})
	}
	for k, id := range b.ids {
		a := s.identities[k]
		if a == nil {
			a = &attachments{identity: NewSet()}
			s.identities[k] = a
		}
		a.id = id
	}
	for k, names := range b.resources {
		s.resources[k] = set(names)
	}
	for acct, levels := range b.guardrails {
		for _, l := range levels {
			s.guardrails[acct] = append(s.guardrails[acct], set(l))
		}
	}
	for acct, levels := range b.rguardrails {
		for _, l := range levels {
			s.rguardrails[acct] = append(s.rguardrails[acct], set(l))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("attachments name unknown policies: %v", missing)
	}
	return s, nil
}

// Engine holds the current snapshot. Decisions read it without locks;
// a new snapshot replaces it atomically, so decisions never wait on
// updates and each sees one consistent snapshot.
type Engine struct {
	cur atomic.Pointer[Snapshot]
}

// NewEngine returns an engine deciding with s.
func NewEngine(s *Snapshot) *Engine {
	e := &Engine{}
	e.cur.Store(s)
	return e
}

// Snapshot returns the current snapshot.
func (e *Engine) Snapshot() *Snapshot { return e.cur.Load() }

// Swap installs a new snapshot.
func (e *Engine) Swap(s *Snapshot) { e.cur.Store(s) }

// Decide evaluates a request against the current snapshot; with no
// snapshot it denies (fail closed).
func (e *Engine) Decide(r *Request, resourceKey string, session *Set) Decision {
	s := e.cur.Load()
	if s == nil {
		return Decision{Effect: ImplicitDeny}
	}
	return s.Decide(r, resourceKey, session)
}
