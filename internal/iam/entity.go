package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/store"
)

// Tag is a key and value attached to a user or role. Role tags become the
// aws:PrincipalTag keys of its sessions.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Attachments are the policies of a user, group or role.
type Attachments struct {
	// Inline policies by name, each a JSON document.
	Inline map[string]string `json:"inline,omitempty"`
	// Attached managed policies, by ARN.
	Attached []string `json:"attached,omitempty"`
	// Boundary is the ARN of the permissions boundary ("" for none).
	Boundary string `json:"boundary,omitempty"`
}

// Group is an IAM group: its policies apply to its member users.
type Group struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"` // "AGPA…"
	Account string    `json:"account"`
	Path    string    `json:"path,omitempty"`
	Created time.Time `json:"created"`
	Attachments
}

// ARN is the group's ARN.
func (g Group) ARN() string { return arn(g.Account, "group", g.Path, g.Name) }

// Role is an IAM role: principals its trust policy allows assume it and
// act with its policies for a while.
type Role struct {
	Name        string    `json:"name"`
	ID          string    `json:"id"` // "AROA…"
	Account     string    `json:"account"`
	Path        string    `json:"path,omitempty"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	// TrustPolicy is the JSON document saying who may assume the role.
	TrustPolicy string `json:"trustPolicy"`
	// MaxSessionDuration bounds the role's sessions; 1 hour when zero.
	MaxSessionDuration time.Duration `json:"maxSessionDuration,omitempty"`
	Tags               []Tag         `json:"tags,omitempty"`
	Attachments
}

// ARN is the role's ARN.
func (r Role) ARN() string { return arn(r.Account, "role", r.Path, r.Name) }

// MaxSession is the role's longest session.
func (r Role) MaxSession() time.Duration {
	if r.MaxSessionDuration == 0 {
		return DefaultMaxSession
	}
	return r.MaxSessionDuration
}

// Role session bounds, as AWS's.
const (
	DefaultMaxSession = time.Hour
	MaxMaxSession     = 12 * time.Hour
)

// ManagedPolicy is a customer-managed policy: a named document attached to
// any number of users, groups and roles.
type ManagedPolicy struct {
	Name        string    `json:"name"`
	ID          string    `json:"id"` // "ANPA…"
	Account     string    `json:"account"`
	Path        string    `json:"path,omitempty"`
	Description string    `json:"description,omitempty"`
	Document    string    `json:"document"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// ARN is the policy's ARN.
func (p ManagedPolicy) ARN() string { return arn(p.Account, "policy", p.Path, p.Name) }

// AWS's rules for names, paths, tags and descriptions.
var (
	roleName     = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	groupName    = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	policyNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	pathRE       = regexp.MustCompile(`^/([\x21-\x7E]{0,510}/)?$`)
	tagKey       = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	tagValue     = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`)
)

// Quotas, as AWS's defaults.
const (
	MaxTags            = 50
	MaxAttached        = 20
	MaxInlineBytes     = 10240 // a role's inline policies together; users' 2048 on AWS, kept equal here
	MaxManagedBytes    = 6144
	MaxTrustBytes      = 2048
	MaxDescriptionLen  = 1000
	MaxGroupsPerUser   = 10
	MaxInlinePolicyLen = 10240
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, a...)...)
}

func checkPath(p string) error {
	if p != "" && !pathRE.MatchString(p) {
		return invalid("path %q must begin and end with / and hold printable ASCII", clip(p))
	}
	return nil
}

// CheckTags validates tags as AWS does and refuses duplicate keys
// (compared without case, as AWS compares tag keys).
func CheckTags(tags []Tag) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags is more than %d", ErrLimitExceeded, len(tags), MaxTags)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if !tagKey.MatchString(t.Key) {
			return invalid("tag key %q must be 1 to 128 letters, digits, spaces and _.:/=+-@", clip(t.Key))
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalid("tag key %q uses the reserved prefix aws:", clip(t.Key))
		}
		if !tagValue.MatchString(t.Value) {
			return invalid("tag value for %q must be at most 256 letters, digits, spaces and _.:/=+-@", clip(t.Key))
		}
		k := strings.ToLower(t.Key)
		if seen[k] {
			return invalid("tag key %q is given twice", clip(t.Key))
		}
		seen[k] = true
	}
	return nil
}

// mergeTags returns old with tags added or replaced (keys compared
// without case).
func mergeTags(old, tags []Tag) []Tag {
	out := slices.Clone(old)
	for _, t := range tags {
		i := slices.IndexFunc(out, func(o Tag) bool { return strings.EqualFold(o.Key, t.Key) })
		if i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	return out
}

// maxDocumentText bounds a policy document's text, white space included,
// as AWS's API bounds the PolicyDocument parameter.
const maxDocumentText = 131072

// CheckPolicy parses and validates a policy document for its use, with
// AWS's wording in the error. Its size is counted as AWS counts it,
// without the white space between tokens; a value ztgate cannot evaluate
// is refused (policy.Evaluable).
func CheckPolicy(doc string, kind policy.Kind, max int) error {
	if len(doc) > maxDocumentText || policy.Size([]byte(doc)) > max {
		return fmt.Errorf("%w: Cannot exceed quota for PolicySize: %d", ErrLimitExceeded, max)
	}
	if _, errs := policy.CheckEvaluable([]byte(doc), kind); len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrMalformedPolicy, errs[0].Error())
	}
	return nil
}

func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}

// entity is what the generic record operations read and write.
type entity interface {
	User | Group | Role | ManagedPolicy
}

func get[T entity](ctx context.Context, r store.Reader, kind, what, name string) (store.Record, T, error) {
	var v T
	rec, err := r.Get(ctx, kind, name)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return rec, v, awsError(ErrNoSuchEntity, "The %s with name %s cannot be found.", what, clip(name))
	}
	if err != nil {
		return rec, v, fmt.Errorf("iam: get %s %s: %w", what, name, err)
	}
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return rec, v, fmt.Errorf("iam: %s %s: %w", what, name, err)
	}
	return rec, v, nil
}

func list[T entity](ctx context.Context, r store.Reader, kind string) ([]T, error) {
	recs, err := r.List(ctx, kind, "")
	if err != nil {
		return nil, fmt.Errorf("iam: list %s: %w", kind, err)
	}
	out := make([]T, 0, len(recs))
	for _, rec := range recs {
		var v T
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			return nil, fmt.Errorf("iam: %s %s: %w", kind, rec.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func put(ctx context.Context, tx store.Tx, kind, key string, v any, create bool, rev int64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if create && caseless[kind] {
		if err := serialize(ctx, tx); err != nil {
			return err
		}
	}
	if create {
		if twin, err := caseTwin(ctx, tx, kind, key); err != nil {
			return err
		} else if twin != "" {
			return store.ErrExists
		}
	}
	if create {
		_, err = tx.Create(ctx, kind, key, b)
	} else {
		_, err = tx.Replace(ctx, kind, key, b, rev)
	}
	return err
}

// caseTwin returns the name of an entity of kind that differs from key
// only in case, or "". As in AWS, names are not told apart by case:
// "ALICE" cannot be created beside "alice", or it would be another
// principal under what people read as the same name.
func caseTwin(ctx context.Context, r store.Reader, kind, key string) (string, error) {
	if !caseless[kind] {
		return "", nil
	}
	recs, err := r.List(ctx, kind, "")
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if rec.Key != key && strings.EqualFold(rec.Key, key) {
			return rec.Key, nil
		}
	}
	return "", nil
}

// kindSerial is a record every transaction that reads names to decide a
// write (a name's case twin, a trusted principal's existence) writes
// first: on PostgreSQL, whose transactions read what others committed
// before each statement, two such transactions would otherwise both read
// before either wrote, and both commit. The first write takes the store's
// write lock, so the reads after it see every earlier such transaction.
const kindSerial = "iam-serial"

// serialize orders tx after every other transaction that called it.
func serialize(ctx context.Context, tx store.Tx) error {
	_, err := tx.Put(ctx, kindSerial, "names", []byte("{}"))
	return err
}

// StoredName returns the name under which an entity of kind (KindUser,
// KindRole, KindGroup) is stored that name designates: name itself when
// it exists or none differs from it only in case, else that one. IAM
// names are not told apart by case, in lookups as in creation.
func (d *Directory) StoredName(ctx context.Context, kind, name string) (string, error) {
	if _, err := d.store.Get(ctx, kind, name); err == nil || !errors.Is(err, store.ErrNotFound) {
		return name, nil // exists, or an error the call itself will meet
	}
	twin, err := caseTwin(ctx, d.store, kind, name)
	if err != nil || twin == "" {
		return name, err
	}
	return twin, nil
}

// caseless are the kinds whose names are unique regardless of case.
var caseless = map[string]bool{KindUser: true, KindRole: true, KindGroup: true, KindPolicy: true}

// modify reads an entity, lets fn change it, and writes it back, all in one
// transaction.
func modify[T entity](ctx context.Context, d *Directory, kind, what, name string, fn func(tx store.Tx, v *T) error) (T, error) {
	var out T
	_, err := d.update(ctx, func(tx store.Tx) error {
		rec, v, err := get[T](ctx, tx, kind, what, name)
		if err != nil {
			return err
		}
		if err := fn(tx, &v); err != nil {
			return err
		}
		out = v
		return put(ctx, tx, kind, name, v, false, rec.Revision)
	})
	return out, err
}

func create(ctx context.Context, d *Directory, kind, what, name string, v any) error {
	_, err := d.update(ctx, func(tx store.Tx) error {
		return put(ctx, tx, kind, name, v, true, 0)
	})
	if errors.Is(err, store.ErrExists) {
		return awsError(ErrEntityExists, "%s with name %s already exists.", what, name)
	}
	return err
}

// AddUser creates a user from u's name, path, tags and boundary.
func (d *Directory) AddUser(ctx context.Context, u User) (User, error) {
	if !userName.MatchString(u.Name) {
		return User{}, invalid("user name %q must be 1 to 64 characters of letters, digits and +=,.@_-", clip(u.Name))
	}
	if err := checkPath(u.Path); err != nil {
		return User{}, err
	}
	if err := CheckTags(u.Tags); err != nil {
		return User{}, err
	}
	id, err := d.randomID("AIDA")
	if err != nil {
		return User{}, err
	}
	nu := User{Name: u.Name, ID: id, Account: d.account, Path: u.Path, Created: d.clock().UTC(), Tags: u.Tags}
	nu.Boundary = u.Boundary
	_, err = d.update(ctx, func(tx store.Tx) error {
		if nu.Boundary != "" {
			if _, _, err := d.getPolicyByARN(ctx, tx, nu.Boundary); err != nil {
				return err
			}
		}
		return put(ctx, tx, KindUser, nu.Name, nu, true, 0)
	})
	if errors.Is(err, store.ErrExists) {
		return User{}, awsError(ErrEntityExists, "User with name %s already exists.", u.Name)
	}
	if err != nil {
		return User{}, err
	}
	return nu, nil
}

// ListUsers returns the users whose path starts with prefix ("" for all).
func (d *Directory) ListUsers(ctx context.Context, prefix string) ([]User, error) {
	us, err := list[User](ctx, d.store, KindUser)
	return filterPath(us, prefix, func(u User) string { return u.Path }), err
}

func filterPath[T any](vs []T, prefix string, path func(T) string) []T {
	if prefix == "" || prefix == "/" {
		return vs
	}
	return slices.DeleteFunc(vs, func(v T) bool {
		p := path(v)
		if p == "" {
			p = "/"
		}
		return !strings.HasPrefix(p, prefix)
	})
}

// DeleteUser removes a user that has no access keys, policies or groups
// left, as AWS requires.
func (d *Directory) DeleteUser(ctx context.Context, name string) error {
	_, err := d.update(ctx, func(tx store.Tx) error {
		_, u, err := get[User](ctx, tx, KindUser, "user", name)
		if err != nil {
			return err
		}
		keys, err := keysOf(ctx, tx, name)
		if err != nil {
			return err
		}
		switch {
		case len(keys) > 0:
			return awsError(ErrDeleteConflict, "Cannot delete entity, must delete access keys first.")
		case len(u.Inline) > 0:
			return awsError(ErrDeleteConflict, "Cannot delete entity, must delete policies first.")
		case len(u.Attached) > 0:
			return awsError(ErrDeleteConflict, "Cannot delete entity, must detach all policies first.")
		case len(u.Groups) > 0:
			return awsError(ErrDeleteConflict, "Cannot delete entity, must remove users from group first.")
		}
		if _, err = tx.Delete(ctx, KindUser, name); err != nil {
			return err
		}
		return forgetPrincipal(ctx, tx, u.ID, authz.ParsePrincipal(u.ARN()))
	})
	return err
}

// forgetPrincipal replaces, in every role's trust policy, the ARN of a
// user or role being deleted by its unique id, as AWS does: a principal
// created later under the same name is another principal, which the
// trust does not extend to. The id matches no caller. Values are compared
// as the engine reads them: JSON-decoded, and a role by its ARN without
// path (the engine matches roles so).
func forgetPrincipal(ctx context.Context, tx store.Tx, id string, gone authz.Principal) error {
	if err := serialize(ctx, tx); err != nil {
		return err
	}
	recs, err := tx.List(ctx, KindRole, "")
	if err != nil {
		return err
	}
	for _, rec := range recs {
		var r Role
		if err := json.Unmarshal(rec.Value, &r); err != nil {
			continue // an unreadable role fails closed in the snapshot
		}
		doc, changed, err := replacePrincipal(r.TrustPolicy, id, func(v string) bool {
			p := authz.ParsePrincipal(v)
			switch gone.Kind {
			case authz.Role:
				return p.Kind == authz.Role && p.RoleARN == gone.RoleARN
			case authz.User:
				return p.Kind == authz.User && p.Account == gone.Account && p.Name == gone.Name
			}
			return false
		})
		if err != nil || !changed {
			continue // a document that does not parse grants nothing
		}
		r.TrustPolicy = doc
		if err := put(ctx, tx, KindRole, rec.Key, r, false, rec.Revision); err != nil {
			return err
		}
	}
	return nil
}

// replacePrincipal rewrites doc with every "AWS" principal value (of
// Principal or NotPrincipal) that match holds for replaced by with. The
// document is re-encoded: its keys sorted, its layout compact.
func replacePrincipal(doc, with string, match func(string) bool) (string, bool, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return doc, false, err
	}
	changed := false
	fix := func(val any) any {
		switch x := val.(type) {
		case string:
			if match(x) {
				changed = true
				return with
			}
		case []any:
			for i, e := range x {
				if s, ok := e.(string); ok && match(s) {
					x[i], changed = with, true
				}
			}
		}
		return val
	}
	statement := func(st any) {
		m, ok := st.(map[string]any)
		if !ok {
			return
		}
		for _, k := range []string{"Principal", "NotPrincipal"} {
			if pm, ok := m[k].(map[string]any); ok {
				if aws, ok := pm["AWS"]; ok {
					pm["AWS"] = fix(aws)
				}
			}
		}
	}
	switch sts := v["Statement"].(type) {
	case []any:
		for _, st := range sts {
			statement(st)
		}
	default:
		statement(sts)
	}
	if !changed {
		return doc, false, nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return doc, false, err
	}
	return string(out), true, nil
}

// TagUser adds or replaces tags on a user.
func (d *Directory) TagUser(ctx context.Context, name string, tags []Tag) error {
	if err := CheckTags(tags); err != nil {
		return err
	}
	_, err := modify(ctx, d, KindUser, "user", name, func(_ store.Tx, u *User) error {
		u.Tags = mergeTags(u.Tags, tags)
		return CheckTags(u.Tags)
	})
	return err
}

// AddRole creates a role.
func (d *Directory) AddRole(ctx context.Context, r Role) (Role, error) {
	if !roleName.MatchString(r.Name) {
		return Role{}, invalid("role name %q must be 1 to 64 characters of letters, digits and +=,.@_-", clip(r.Name))
	}
	if err := checkPath(r.Path); err != nil {
		return Role{}, err
	}
	if err := CheckTags(r.Tags); err != nil {
		return Role{}, err
	}
	if err := checkMaxSession(r.MaxSessionDuration); err != nil {
		return Role{}, err
	}
	if len(r.Description) > MaxDescriptionLen {
		return Role{}, invalid("description is longer than %d characters", MaxDescriptionLen)
	}
	if r.TrustPolicy == "" {
		return Role{}, invalid("a role needs an assume-role policy document")
	}
	if err := CheckPolicy(r.TrustPolicy, policy.Trust, MaxTrustBytes); err != nil {
		return Role{}, err
	}
	id, err := d.randomID("AROA")
	if err != nil {
		return Role{}, err
	}
	nr := Role{
		Name: r.Name, ID: id, Account: d.account, Path: r.Path, Description: r.Description,
		Created: d.clock().UTC(), TrustPolicy: r.TrustPolicy, MaxSessionDuration: r.MaxSessionDuration,
		Tags: r.Tags,
	}
	nr.Boundary = r.Boundary
	_, err = d.update(ctx, func(tx store.Tx) error {
		if err := serialize(ctx, tx); err != nil {
			return err
		}
		if err := d.checkTrusted(ctx, tx, nr.TrustPolicy, nr.Name); err != nil {
			return err
		}
		if nr.Boundary != "" {
			if _, _, err := d.getPolicyByARN(ctx, tx, nr.Boundary); err != nil {
				return err
			}
		}
		return put(ctx, tx, KindRole, nr.Name, nr, true, 0)
	})
	if errors.Is(err, store.ErrExists) {
		return Role{}, awsError(ErrEntityExists, "Role with name %s already exists.", r.Name)
	}
	if err != nil {
		return Role{}, err
	}
	return nr, nil
}

func checkMaxSession(d time.Duration) error {
	if d != 0 && (d < DefaultMaxSession || d > MaxMaxSession || d%time.Second != 0) {
		return invalid("max session duration %v must be from 3600 to 43200 seconds", d)
	}
	return nil
}

// GetRole returns a role.
func (d *Directory) GetRole(ctx context.Context, name string) (Role, error) {
	_, r, err := get[Role](ctx, d.store, KindRole, "role", name)
	return r, err
}

// RoleByARN returns the role an ARN names, checking that the ARN is the
// role's (account and path included).
func (d *Directory) RoleByARN(ctx context.Context, roleARN string) (Role, error) {
	i := strings.LastIndexByte(roleARN, '/')
	if i < 0 {
		return Role{}, invalid("%s is not a role ARN", clip(roleARN))
	}
	r, err := d.GetRole(ctx, roleARN[i+1:])
	if err != nil {
		return Role{}, err
	}
	if r.ARN() != roleARN {
		return Role{}, awsError(ErrNoSuchEntity, "The role with ARN %s cannot be found.", clip(roleARN))
	}
	return r, nil
}

// ListRoles returns the roles whose path starts with prefix.
func (d *Directory) ListRoles(ctx context.Context, prefix string) ([]Role, error) {
	rs, err := list[Role](ctx, d.store, KindRole)
	return filterPath(rs, prefix, func(r Role) string { return r.Path }), err
}

// DeleteRole removes a role without policies.
func (d *Directory) DeleteRole(ctx context.Context, name string) error {
	_, err := d.update(ctx, func(tx store.Tx) error {
		_, r, err := get[Role](ctx, tx, KindRole, "role", name)
		if err != nil {
			return err
		}
		switch {
		case len(r.Inline) > 0:
			return awsError(ErrDeleteConflict, "Cannot delete entity, must delete policies first.")
		case len(r.Attached) > 0:
			return awsError(ErrDeleteConflict, "Cannot delete entity, must detach all policies first.")
		}
		if _, err = tx.Delete(ctx, KindRole, name); err != nil {
			return err
		}
		return forgetPrincipal(ctx, tx, r.ID, authz.ParsePrincipal(r.ARN()))
	})
	return err
}

// UpdateAssumeRolePolicy replaces a role's trust policy.
func (d *Directory) UpdateAssumeRolePolicy(ctx context.Context, name, doc string) error {
	if err := CheckPolicy(doc, policy.Trust, MaxTrustBytes); err != nil {
		return err
	}
	_, err := modify(ctx, d, KindRole, "role", name, func(tx store.Tx, r *Role) error {
		if err := serialize(ctx, tx); err != nil {
			return err
		}
		if err := d.checkTrusted(ctx, tx, doc, r.Name); err != nil {
			return err
		}
		r.TrustPolicy = doc
		return nil
	})
	return err
}

// checkTrusted refuses a trust policy that names a user or role of this
// account that does not exist, as AWS does ("Invalid principal in
// policy"): whoever later created one under that name would inherit the
// trust. self names the role the policy is for, which may trust itself.
//
// A transaction writing the role calls serialize before it, so that the
// principals it reads are not deleted meanwhile (see kindSerial).
func (d *Directory) checkTrusted(ctx context.Context, r store.Reader, doc, self string) error {
	parsed, errs := policy.Check([]byte(doc), policy.Trust)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrMalformedPolicy, errs[0].Error())
	}
	prefix := "arn:" + Partition + ":iam::" + d.account + ":"
	for _, st := range parsed.Statements {
		for _, p := range []*policy.Principal{st.Principal, st.NotPrincipal} {
			if p == nil {
				continue
			}
			for _, e := range p.Entries {
				if e.Type != policy.PrincipalAWS {
					continue
				}
				for _, v := range e.Values {
					rest, ok := strings.CutPrefix(v.S, prefix)
					if !ok {
						continue
					}
					kind, what := "", ""
					switch {
					case strings.HasPrefix(rest, "user/"):
						kind, what = KindUser, "user"
					case strings.HasPrefix(rest, "role/"):
						kind, what = KindRole, "role"
					default:
						continue
					}
					name := rest[strings.LastIndexByte(rest, '/')+1:]
					if kind == KindRole && name == self {
						continue
					}
					// The ARN of one that exists, its path included (a
					// role's may be left out, as the engine matches roles).
					var arns []string
					switch kind {
					case KindUser:
						u, err := getUser(ctx, r, name)
						if err == nil {
							arns = []string{u.ARN()}
						} else if !errors.Is(err, ErrNoSuchEntity) {
							return err
						}
					case KindRole:
						_, ro, err := get[Role](ctx, r, KindRole, "role", name)
						if err == nil {
							arns = []string{ro.ARN(), arn(ro.Account, "role", "", ro.Name)}
						} else if !errors.Is(err, ErrNoSuchEntity) {
							return err
						}
					}
					if !slices.Contains(arns, v.S) {
						return fmt.Errorf("%w: Invalid principal in policy: \"AWS\":\"%s\" (no such %s)", ErrMalformedPolicy, clip(v.S), what)
					}
				}
			}
		}
	}
	return nil
}

// UpdateRole changes a role's description and maximum session (zero
// leaves it).
func (d *Directory) UpdateRole(ctx context.Context, name string, description *string, maxSession time.Duration) error {
	if err := checkMaxSession(maxSession); err != nil {
		return err
	}
	_, err := modify(ctx, d, KindRole, "role", name, func(_ store.Tx, r *Role) error {
		if description != nil {
			r.Description = *description
		}
		if maxSession != 0 {
			r.MaxSessionDuration = maxSession
		}
		return nil
	})
	return err
}

// TagRole adds or replaces tags on a role.
func (d *Directory) TagRole(ctx context.Context, name string, tags []Tag) error {
	if err := CheckTags(tags); err != nil {
		return err
	}
	_, err := modify(ctx, d, KindRole, "role", name, func(_ store.Tx, r *Role) error {
		r.Tags = mergeTags(r.Tags, tags)
		return CheckTags(r.Tags)
	})
	return err
}

// UntagRole removes tags from a role.
func (d *Directory) UntagRole(ctx context.Context, name string, keys []string) error {
	_, err := modify(ctx, d, KindRole, "role", name, func(_ store.Tx, r *Role) error {
		r.Tags = slices.DeleteFunc(r.Tags, func(t Tag) bool {
			return slices.ContainsFunc(keys, func(k string) bool { return strings.EqualFold(k, t.Key) })
		})
		return nil
	})
	return err
}

// AddGroup creates a group.
func (d *Directory) AddGroup(ctx context.Context, g Group) (Group, error) {
	if !groupName.MatchString(g.Name) {
		return Group{}, invalid("group name %q must be 1 to 128 characters of letters, digits and +=,.@_-", clip(g.Name))
	}
	if err := checkPath(g.Path); err != nil {
		return Group{}, err
	}
	id, err := d.randomID("AGPA")
	if err != nil {
		return Group{}, err
	}
	ng := Group{Name: g.Name, ID: id, Account: d.account, Path: g.Path, Created: d.clock().UTC()}
	if err := create(ctx, d, KindGroup, "Group", ng.Name, ng); err != nil {
		return Group{}, err
	}
	return ng, nil
}

// GetGroup returns a group and its members.
func (d *Directory) GetGroup(ctx context.Context, name string) (Group, []User, error) {
	_, g, err := get[Group](ctx, d.store, KindGroup, "group", name)
	if err != nil {
		return g, nil, err
	}
	us, err := list[User](ctx, d.store, KindUser)
	us = slices.DeleteFunc(us, func(u User) bool { return !slices.Contains(u.Groups, name) })
	return g, us, err
}

// ListGroups returns the groups.
func (d *Directory) ListGroups(ctx context.Context, prefix string) ([]Group, error) {
	gs, err := list[Group](ctx, d.store, KindGroup)
	return filterPath(gs, prefix, func(g Group) string { return g.Path }), err
}

// DeleteGroup removes a group without members or policies.
func (d *Directory) DeleteGroup(ctx context.Context, name string) error {
	_, err := d.update(ctx, func(tx store.Tx) error {
		_, g, err := get[Group](ctx, tx, KindGroup, "group", name)
		if err != nil {
			return err
		}
		us, err := list[User](ctx, tx, KindUser)
		if err != nil {
			return err
		}
		switch {
		case slices.ContainsFunc(us, func(u User) bool { return slices.Contains(u.Groups, name) }):
			return awsError(ErrDeleteConflict, "Cannot delete entity, must remove users from group first.")
		case len(g.Inline) > 0:
			return awsError(ErrDeleteConflict, "Cannot delete entity, must delete policies first.")
		case len(g.Attached) > 0:
			return awsError(ErrDeleteConflict, "Cannot delete entity, must detach all policies first.")
		}
		_, err = tx.Delete(ctx, KindGroup, name)
		return err
	})
	return err
}

// AddUserToGroup makes a user a member of a group.
func (d *Directory) AddUserToGroup(ctx context.Context, group, user string) error {
	_, err := modify(ctx, d, KindUser, "user", user, func(tx store.Tx, u *User) error {
		if _, _, err := get[Group](ctx, tx, KindGroup, "group", group); err != nil {
			return err
		}
		if slices.Contains(u.Groups, group) {
			return nil
		}
		if len(u.Groups) >= MaxGroupsPerUser {
			return fmt.Errorf("%w: Cannot exceed quota for GroupsPerUser: %d", ErrLimitExceeded, MaxGroupsPerUser)
		}
		u.Groups = append(u.Groups, group)
		return nil
	})
	return err
}

// RemoveUserFromGroup ends a membership.
func (d *Directory) RemoveUserFromGroup(ctx context.Context, group, user string) error {
	_, err := modify(ctx, d, KindUser, "user", user, func(_ store.Tx, u *User) error {
		if !slices.Contains(u.Groups, group) {
			return awsError(ErrNoSuchEntity, "The user with name %s is not in group %s.", user, group)
		}
		u.Groups = slices.DeleteFunc(u.Groups, func(g string) bool { return g == group })
		return nil
	})
	return err
}

// Holder names the kind of entity a policy is put on or attached to.
type Holder string

// Policy holders.
const (
	HolderUser  Holder = KindUser
	HolderGroup Holder = KindGroup
	HolderRole  Holder = KindRole
)

func (h Holder) what() string { return strings.TrimPrefix(string(h), "iam-") }

// withAttachments runs fn on the attachments of a user, group or role, in
// one transaction.
func (d *Directory) withAttachments(ctx context.Context, h Holder, name string, fn func(tx store.Tx, a *Attachments) error) error {
	var err error
	switch h {
	case HolderUser:
		_, err = modify(ctx, d, KindUser, "user", name, func(tx store.Tx, u *User) error { return fn(tx, &u.Attachments) })
	case HolderGroup:
		_, err = modify(ctx, d, KindGroup, "group", name, func(tx store.Tx, g *Group) error { return fn(tx, &g.Attachments) })
	case HolderRole:
		_, err = modify(ctx, d, KindRole, "role", name, func(tx store.Tx, r *Role) error { return fn(tx, &r.Attachments) })
	default:
		err = fmt.Errorf("iam: unknown policy holder %q", h)
	}
	return err
}

// PutPolicy adds or replaces an inline policy of a user, group or role.
func (d *Directory) PutPolicy(ctx context.Context, h Holder, name, policyName, doc string) error {
	if !policyNameRE.MatchString(policyName) {
		return invalid("policy name %q must be 1 to 128 characters of letters, digits and +=,.@_-", clip(policyName))
	}
	if err := CheckPolicy(doc, policy.Identity, MaxInlinePolicyLen); err != nil {
		return err
	}
	return d.withAttachments(ctx, h, name, func(_ store.Tx, a *Attachments) error {
		total := len(doc)
		for n, p := range a.Inline {
			if n != policyName {
				total += len(p)
			}
		}
		if total > MaxInlineBytes {
			return awsError(ErrLimitExceeded, "Maximum policy size of %d bytes exceeded for %s %s.", MaxInlineBytes, h.what(), name)
		}
		if a.Inline == nil {
			a.Inline = map[string]string{}
		}
		a.Inline[policyName] = doc
		return nil
	})
}

// GetInlinePolicy returns an inline policy's document.
func (d *Directory) GetInlinePolicy(ctx context.Context, h Holder, name, policyName string) (string, error) {
	var doc string
	var found bool
	err := d.read(ctx, h, name, func(a Attachments) {
		doc, found = a.Inline[policyName]
	})
	if err == nil && !found {
		err = awsError(ErrNoSuchEntity, "The %s policy with name %s cannot be found.", h.what(), clip(policyName))
	}
	return doc, err
}

// ListInlinePolicies returns the names of an entity's inline policies.
func (d *Directory) ListInlinePolicies(ctx context.Context, h Holder, name string) ([]string, error) {
	var names []string
	err := d.read(ctx, h, name, func(a Attachments) {
		names = slices.Sorted(maps.Keys(a.Inline))
	})
	return names, err
}

// ListAttachedPolicies returns the ARNs of an entity's managed policies.
func (d *Directory) ListAttachedPolicies(ctx context.Context, h Holder, name string) ([]string, error) {
	var arns []string
	err := d.read(ctx, h, name, func(a Attachments) { arns = slices.Clone(a.Attached) })
	return arns, err
}

func (d *Directory) read(ctx context.Context, h Holder, name string, fn func(Attachments)) error {
	switch h {
	case HolderUser:
		_, u, err := get[User](ctx, d.store, KindUser, "user", name)
		fn(u.Attachments)
		return err
	case HolderGroup:
		_, g, err := get[Group](ctx, d.store, KindGroup, "group", name)
		fn(g.Attachments)
		return err
	case HolderRole:
		_, r, err := get[Role](ctx, d.store, KindRole, "role", name)
		fn(r.Attachments)
		return err
	}
	return fmt.Errorf("iam: unknown policy holder %q", h)
}

// DeleteInlinePolicy removes an inline policy.
func (d *Directory) DeleteInlinePolicy(ctx context.Context, h Holder, name, policyName string) error {
	return d.withAttachments(ctx, h, name, func(_ store.Tx, a *Attachments) error {
		if _, ok := a.Inline[policyName]; !ok {
			return awsError(ErrNoSuchEntity, "The %s policy with name %s cannot be found.", h.what(), clip(policyName))
		}
		delete(a.Inline, policyName)
		return nil
	})
}

// AttachPolicy attaches a managed policy to a user, group or role.
func (d *Directory) AttachPolicy(ctx context.Context, h Holder, name, policyARN string) error {
	return d.withAttachments(ctx, h, name, func(tx store.Tx, a *Attachments) error {
		if _, _, err := d.getPolicyByARN(ctx, tx, policyARN); err != nil {
			return err
		}
		if slices.Contains(a.Attached, policyARN) {
			return nil
		}
		if len(a.Attached) >= MaxAttached {
			return fmt.Errorf("%w: Cannot exceed quota for PoliciesPerEntity: %d", ErrLimitExceeded, MaxAttached)
		}
		a.Attached = append(a.Attached, policyARN)
		return nil
	})
}

// DetachPolicy detaches a managed policy.
func (d *Directory) DetachPolicy(ctx context.Context, h Holder, name, policyARN string) error {
	return d.withAttachments(ctx, h, name, func(_ store.Tx, a *Attachments) error {
		if !slices.Contains(a.Attached, policyARN) {
			return awsError(ErrNoSuchEntity, "Policy %s was not found.", clip(policyARN))
		}
		a.Attached = slices.DeleteFunc(a.Attached, func(s string) bool { return s == policyARN })
		return nil
	})
}

// SetBoundary sets or (with "") removes an entity's permissions boundary.
func (d *Directory) SetBoundary(ctx context.Context, h Holder, name, policyARN string) error {
	return d.withAttachments(ctx, h, name, func(tx store.Tx, a *Attachments) error {
		if policyARN != "" {
			if _, _, err := d.getPolicyByARN(ctx, tx, policyARN); err != nil {
				return err
			}
		}
		a.Boundary = policyARN
		return nil
	})
}

// CreatePolicy creates a customer-managed policy.
func (d *Directory) CreatePolicy(ctx context.Context, p ManagedPolicy) (ManagedPolicy, error) {
	if !policyNameRE.MatchString(p.Name) {
		return ManagedPolicy{}, invalid("policy name %q must be 1 to 128 characters of letters, digits and +=,.@_-", clip(p.Name))
	}
	if err := checkPath(p.Path); err != nil {
		return ManagedPolicy{}, err
	}
	if len(p.Description) > MaxDescriptionLen {
		return ManagedPolicy{}, invalid("description is longer than %d characters", MaxDescriptionLen)
	}
	if err := CheckPolicy(p.Document, policy.Identity, MaxManagedBytes); err != nil {
		return ManagedPolicy{}, err
	}
	id, err := d.randomID("ANPA")
	if err != nil {
		return ManagedPolicy{}, err
	}
	now := d.clock().UTC()
	np := ManagedPolicy{Name: p.Name, ID: id, Account: d.account, Path: p.Path, Description: p.Description, Document: p.Document, Created: now, Updated: now}
	if err := create(ctx, d, KindPolicy, "A policy called", np.Name, np); err != nil {
		return ManagedPolicy{}, err
	}
	return np, nil
}

func (d *Directory) getPolicyByARN(ctx context.Context, r store.Reader, policyARN string) (store.Record, ManagedPolicy, error) {
	i := strings.LastIndexByte(policyARN, '/')
	if i < 0 || !strings.HasPrefix(policyARN, "arn:") {
		return store.Record{}, ManagedPolicy{}, invalid("%s is not a policy ARN", clip(policyARN))
	}
	rec, p, err := get[ManagedPolicy](ctx, r, KindPolicy, "policy", policyARN[i+1:])
	if err == nil && p.ARN() != policyARN {
		err = awsError(ErrNoSuchEntity, "Policy %s does not exist or is not attachable.", clip(policyARN))
	}
	if errors.Is(err, ErrNoSuchEntity) {
		err = awsError(ErrNoSuchEntity, "Policy %s does not exist or is not attachable.", clip(policyARN))
	}
	return rec, p, err
}

// GetPolicy returns a managed policy by ARN.
func (d *Directory) GetPolicy(ctx context.Context, policyARN string) (ManagedPolicy, error) {
	_, p, err := d.getPolicyByARN(ctx, d.store, policyARN)
	return p, err
}

// ListPolicies returns the managed policies.
func (d *Directory) ListPolicies(ctx context.Context, prefix string) ([]ManagedPolicy, error) {
	ps, err := list[ManagedPolicy](ctx, d.store, KindPolicy)
	return filterPath(ps, prefix, func(p ManagedPolicy) string { return p.Path }), err
}

// AttachmentCount returns how many users, groups and roles have a managed
// policy attached.
func (d *Directory) AttachmentCount(ctx context.Context, policyARN string) (int, error) {
	n := 0
	us, err := list[User](ctx, d.store, KindUser)
	if err != nil {
		return 0, err
	}
	for _, u := range us {
		if slices.Contains(u.Attached, policyARN) {
			n++
		}
	}
	gs, err := list[Group](ctx, d.store, KindGroup)
	if err != nil {
		return 0, err
	}
	for _, g := range gs {
		if slices.Contains(g.Attached, policyARN) {
			n++
		}
	}
	rs, err := list[Role](ctx, d.store, KindRole)
	if err != nil {
		return 0, err
	}
	for _, r := range rs {
		if slices.Contains(r.Attached, policyARN) {
			n++
		}
	}
	return n, nil
}

// DeletePolicy removes a managed policy that nothing has attached or uses
// as a boundary.
func (d *Directory) DeletePolicy(ctx context.Context, policyARN string) error {
	_, err := d.update(ctx, func(tx store.Tx) error {
		_, p, err := d.getPolicyByARN(ctx, tx, policyARN)
		if err != nil {
			return err
		}
		uses := func(a Attachments) bool { return slices.Contains(a.Attached, policyARN) || a.Boundary == policyARN }
		us, err := list[User](ctx, tx, KindUser)
		if err != nil {
			return err
		}
		gs, err := list[Group](ctx, tx, KindGroup)
		if err != nil {
			return err
		}
		rs, err := list[Role](ctx, tx, KindRole)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(us, func(u User) bool { return uses(u.Attachments) }) ||
			slices.ContainsFunc(gs, func(g Group) bool { return uses(g.Attachments) }) ||
			slices.ContainsFunc(rs, func(r Role) bool { return uses(r.Attachments) }) {
			return awsError(ErrDeleteConflict, "Cannot delete a policy attached to entities.")
		}
		_, err = tx.Delete(ctx, KindPolicy, p.Name)
		return err
	})
	return err
}

// ListAccessKeys returns a user's access keys.
func (d *Directory) ListAccessKeys(ctx context.Context, user string) ([]AccessKey, error) {
	if _, err := d.GetUser(ctx, user); err != nil {
		return nil, err
	}
	return keysOf(ctx, d.store, user)
}

func keysOf(ctx context.Context, r store.Reader, user string) ([]AccessKey, error) {
	recs, err := r.List(ctx, KindAccessKey, "")
	if err != nil {
		return nil, err
	}
	var out []AccessKey
	for _, rec := range recs {
		var k keyRecord
		if err := json.Unmarshal(rec.Value, &k); err != nil {
			return nil, fmt.Errorf("iam: access key %s: %w", rec.Key, err)
		}
		if k.User == user {
			out = append(out, k.AccessKey)
		}
	}
	return out, nil
}

// DeleteAccessKey removes a user's access key.
func (d *Directory) DeleteAccessKey(ctx context.Context, user, id string) error {
	_, err := d.update(ctx, func(tx store.Tx) error {
		_, k, err := getKey(ctx, tx, id)
		if err != nil {
			return err
		}
		if user != "" && k.User != user {
			return awsError(ErrNoSuchEntity, "The Access Key with id %s cannot be found.", clip(id))
		}
		if _, err := tx.Delete(ctx, KindKeyUse, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		_, err = tx.Delete(ctx, KindAccessKey, id)
		return err
	})
	return err
}

// awsError wraps sentinel with AWS's sentence for the client, which the
// API handler shows after the sentinel's text.
func awsError(sentinel error, format string, a ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, a...))
}
