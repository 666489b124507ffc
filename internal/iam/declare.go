package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/store"
)

// Declaration is the identities and policies a configuration file
// declares (GitOps style). Names in Attached and Boundary may be the names
// of declared policies or ARNs.
type Declaration struct {
	Policies []ManagedPolicy
	Groups   []Group
	Users    []User // Groups names the groups each user belongs to
	Roles    []Role
}

// Declare makes the store hold what d declares: each declared entity is
// created, or brought to its declared state (its id and creation time
// kept), in one transaction, so that a configuration is applied whole or
// not at all. Entities not declared, and access keys, are left alone.
// Changes made through the API to a declared entity last until the next
// Declare, which the node runs at every start.
func (dir *Directory) Declare(ctx context.Context, d Declaration) (changed int, err error) {
	ref := func(name string) string {
		if name == "" || strings.HasPrefix(name, "arn:") {
			return name
		}
		for _, p := range d.Policies {
			if p.Name == name {
				p.Account = dir.account
				return p.ARN()
			}
		}
		return name
	}
	refs := func(a Attachments) Attachments {
		out := Attachments{Inline: a.Inline, Boundary: ref(a.Boundary)}
		for _, n := range a.Attached {
			out.Attached = append(out.Attached, ref(n))
		}
		return out
	}
	for _, p := range d.Policies {
		if err := CheckPolicy(p.Document, policy.Identity, MaxManagedBytes); err != nil {
			return 0, fmt.Errorf("policy %s: %w", p.Name, err)
		}
	}
	for _, r := range d.Roles {
		if err := CheckPolicy(r.TrustPolicy, policy.Trust, MaxTrustBytes); err != nil {
			return 0, fmt.Errorf("role %s trust policy: %w", r.Name, err)
		}
	}
	check := func(what, name string, a Attachments) error {
		for pn, doc := range a.Inline {
			if err := CheckPolicy(doc, policy.Identity, MaxInlinePolicyLen); err != nil {
				return fmt.Errorf("%s %s policy %s: %w", what, name, pn, err)
			}
		}
		return nil
	}
	for _, g := range d.Groups {
		if err := check("group", g.Name, g.Attachments); err != nil {
			return 0, err
		}
	}
	for _, u := range d.Users {
		if err := check("user", u.Name, u.Attachments); err != nil {
			return 0, err
		}
	}
	for _, r := range d.Roles {
		if err := check("role", r.Name, r.Attachments); err != nil {
			return 0, err
		}
	}
	now := dir.clock().UTC()
	_, err = dir.update(ctx, func(tx store.Tx) error {
		changed = 0
		for _, p := range d.Policies {
			_, old, err := get[ManagedPolicy](ctx, tx, KindPolicy, "policy", p.Name)
			np := ManagedPolicy{Name: p.Name, Account: dir.account, Path: p.Path, Description: p.Description, Document: p.Document, Created: now, Updated: now}
			if err == nil {
				np.ID, np.Created = old.ID, old.Created
				if old.Document == np.Document && old.Path == np.Path && old.Description == np.Description {
					continue
				}
			} else if !errors.Is(err, ErrNoSuchEntity) {
				return err
			} else if np.ID, err = dir.randomID("ANPA"); err != nil {
				return err
			}
			if err := putAny(ctx, tx, KindPolicy, np.Name, np); err != nil {
				return err
			}
			changed++
		}
		for _, g := range d.Groups {
			_, old, err := get[Group](ctx, tx, KindGroup, "group", g.Name)
			ng := Group{Name: g.Name, Account: dir.account, Path: g.Path, Created: now, Attachments: refs(g.Attachments)}
			if err == nil {
				ng.ID, ng.Created = old.ID, old.Created
			} else if !errors.Is(err, ErrNoSuchEntity) {
				return err
			} else if ng.ID, err = dir.randomID("AGPA"); err != nil {
				return err
			}
			if err := putAny(ctx, tx, KindGroup, ng.Name, ng); err != nil {
				return err
			}
			changed++
		}
		for _, u := range d.Users {
			_, old, err := get[User](ctx, tx, KindUser, "user", u.Name)
			nu := User{Name: u.Name, Account: dir.account, Path: u.Path, Created: now, Tags: u.Tags, Groups: u.Groups, Attachments: refs(u.Attachments)}
			if err == nil {
				nu.ID, nu.Created = old.ID, old.Created
			} else if !errors.Is(err, ErrNoSuchEntity) {
				return err
			} else if nu.ID, err = dir.randomID("AIDA"); err != nil {
				return err
			}
			if err := putAny(ctx, tx, KindUser, nu.Name, nu); err != nil {
				return err
			}
			changed++
		}
		for _, r := range d.Roles {
			_, old, err := get[Role](ctx, tx, KindRole, "role", r.Name)
			nr := Role{Name: r.Name, Account: dir.account, Path: r.Path, Description: r.Description, Created: now,
				TrustPolicy: r.TrustPolicy, MaxSessionDuration: r.MaxSessionDuration, Tags: r.Tags, Attachments: refs(r.Attachments)}
			if err == nil {
				nr.ID, nr.Created = old.ID, old.Created
			} else if !errors.Is(err, ErrNoSuchEntity) {
				return err
			} else if nr.ID, err = dir.randomID("AROA"); err != nil {
				return err
			}
			if err := putAny(ctx, tx, KindRole, nr.Name, nr); err != nil {
				return err
			}
			changed++
		}
		// The API refuses a trust policy naming a user or role that does
		// not exist; the configuration may name one made later through
		// the API (or the bootstrap administrator), so it is only told.
		for _, r := range d.Roles {
			if err := dir.checkTrusted(ctx, tx, r.TrustPolicy, r.Name); errors.Is(err, ErrMalformedPolicy) {
				dir.log.Warn("a declared role's trust policy names a principal that does not exist (yet)", "role", r.Name, "err", err)
			} else if err != nil {
				return err
			}
		}
		// Every reference must resolve, as the API requires.
		for _, rf := range declaredRefs(d, refs) {
			if _, _, err := dir.getPolicyByARN(ctx, tx, rf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("iam: applying the declared identities: %w", err)
	}
	return changed, nil
}

func declaredRefs(d Declaration, refs func(Attachments) Attachments) []string {
	var out []string
	add := func(a Attachments) {
		a = refs(a)
		out = append(out, a.Attached...)
		if a.Boundary != "" {
			out = append(out, a.Boundary)
		}
	}
	for _, g := range d.Groups {
		add(g.Attachments)
	}
	for _, u := range d.Users {
		add(u.Attachments)
	}
	for _, r := range d.Roles {
		add(r.Attachments)
	}
	return out
}

func putAny(ctx context.Context, tx store.Tx, kind, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if twin, err := caseTwin(ctx, tx, kind, key); err != nil {
		return err
	} else if twin != "" {
		return awsError(ErrEntityExists, "%s differs from the existing %s only in case; names are unique regardless of case", clip(key), clip(twin))
	}
	_, err = tx.Put(ctx, kind, key, b)
	return err
}
