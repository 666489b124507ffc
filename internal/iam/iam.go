// Package iam keeps ztgate's identities: users, groups, roles, managed and
// inline policies, and users' long-term access keys, stored as records in
// the state store (kinds "iam-user", "iam-group", "iam-role", "iam-policy",
// "iam-access-key"), and builds from them the policy snapshot the policy
// engine decides with ([Directory.Snapshot], kept current by [Policies]).
// A secret access key is returned once, when the key is
// created, and is stored only sealed under the key-encryption key with the
// access key id as associated data, so that a sealed secret cannot be moved
// to another key's record. [Directory] is also the [sigv4.KeyStore] that
// SigV4 verification looks secrets up in.
package iam

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/store"
)

// DefaultAccount is the account id a node's identities belong to until
// accounts are configurable: twelve zeros, which no real AWS account has,
// so that ztgate ARNs are never mistaken for AWS ones.
const DefaultAccount = "000000000000"

// Partition is the ARN partition of ztgate's identities: "zt", so that a
// ztgate ARN is never mistaken for an AWS one.
const Partition = "zt"

// Record kinds in the store.
const (
	KindUser      = "iam-user"
	KindAccessKey = "iam-access-key"
	KindKeyUse    = "iam-access-key-use" // when, where and for what a key was last used
	KindGroup     = "iam-group"
	KindRole      = "iam-role"
	KindPolicy    = "iam-policy"
)

// Errors, classified with errors.Is.
var (
	// ErrNoSuchEntity: no user or access key has that name or id (AWS's
	// NoSuchEntity).
	ErrNoSuchEntity = errors.New("iam: no such entity")
	// ErrEntityExists: a user with that name exists (AWS's EntityAlreadyExists).
	ErrEntityExists = errors.New("iam: entity already exists")
	// ErrInvalidInput: a name breaks AWS's rules (AWS's ValidationError).
	ErrInvalidInput = errors.New("iam: invalid input")
	// ErrMalformedPolicy: a policy document is not valid for its use
	// (AWS's MalformedPolicyDocument).
	ErrMalformedPolicy = errors.New("iam: malformed policy document")
	// ErrDeleteConflict: an entity still has what must go first (AWS's
	// DeleteConflict).
	ErrDeleteConflict = errors.New("iam: delete conflict")
	// ErrLimitExceeded: a quota is reached (AWS's LimitExceeded).
	ErrLimitExceeded = errors.New("iam: limit exceeded")
)

// Status is an access key's state.
type Status string

// Access key states, as AWS names them.
const (
	Active   Status = "Active"
	Inactive Status = "Inactive"
)

// User is an IAM user.
type User struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"` // "AIDA" + 16 characters, as AWS's unique ids
	Account string    `json:"account"`
	Created time.Time `json:"created"`
	Path    string    `json:"path,omitempty"` // "/" when empty
	Tags    []Tag     `json:"tags,omitempty"`
	Groups  []string  `json:"groups,omitempty"`
	Attachments
}

// ARN is the user's ARN in ztgate's partition.
func (u User) ARN() string { return arn(u.Account, "user", u.Path, u.Name) }

func arn(account, kind, path, name string) string {
	if path == "" {
		path = "/"
	}
	return "arn:" + Partition + ":iam::" + account + ":" + kind + path + name
}

// AccessKey describes a long-term access key; it never holds the secret.
type AccessKey struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Status  Status    `json:"status"`
	Created time.Time `json:"created"`
}

// keyRecord is an access key as stored: the description plus the sealed
// secret.
type keyRecord struct {
	AccessKey
	Sealed []byte `json:"sealedSecret"`
}

// Directory reads and writes users and access keys in a store.
type Directory struct {
	store   store.Store
	kek     *secret.KEK
	account string
	clock   func() time.Time
	rand    io.Reader
	log     *slog.Logger

	usesMu sync.Mutex
	uses   map[string]time.Time // when this node last recorded each key's use

	keys keyCache // opened access keys, while Run follows the change feed
}

var _ sigv4.KeyStore = (*Directory)(nil)

// Config is what a Directory needs.
type Config struct {
	Store   store.Store
	KEK     *secret.KEK
	Account string           // the account the users belong to; DefaultAccount when empty
	Clock   func() time.Time // time.Now when nil
	Rand    io.Reader        // crypto/rand when nil
	Log     *slog.Logger     // discarded when nil
}

// New returns a Directory over c.Store.
func New(c Config) *Directory {
	d := &Directory{store: c.Store, kek: c.KEK, account: c.Account, clock: c.Clock, rand: c.Rand, log: c.Log}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.account == "" {
		d.account = DefaultAccount
	}
	if d.clock == nil {
		d.clock = time.Now
	}
	if d.rand == nil {
		d.rand = rand.Reader
	}
	return d
}

// Account is the account the directory's users belong to.
func (d *Directory) Account() string { return d.account }

// userName is AWS's rule for user names.
var userName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// CreateUser adds a user with the default path and no tags.
func (d *Directory) CreateUser(ctx context.Context, name string) (User, error) {
	return d.AddUser(ctx, User{Name: name})
}

// GetUser returns the user with that name.
func (d *Directory) GetUser(ctx context.Context, name string) (User, error) {
	return getUser(ctx, d.store, name)
}

func getUser(ctx context.Context, r store.Reader, name string) (User, error) {
	_, u, err := get[User](ctx, r, KindUser, "user", name)
	return u, err
}

// MaxKeysPerUser is how many access keys a user may have, as on AWS.
const MaxKeysPerUser = 2

// CreateAccessKey makes an active access key for a user and returns it
// with its secret, which is not kept in readable form: this is the only
// time it can be read.
func (d *Directory) CreateAccessKey(ctx context.Context, user string) (AccessKey, sigv4.Secret, error) {
	id, err := d.randomID("AKIA")
	if err != nil {
		return AccessKey{}, sigv4.Secret{}, err
	}
	var raw [30]byte // 40 base64 characters, as AWS's secrets
	if _, err := io.ReadFull(d.rand, raw[:]); err != nil {
		return AccessKey{}, sigv4.Secret{}, fmt.Errorf("iam: random: %w", err)
	}
	sec := base64.StdEncoding.EncodeToString(raw[:])
	clear(raw[:])
	sealed, err := secret.Seal(d.kek, []byte(sec), []byte(id))
	if err != nil {
		return AccessKey{}, sigv4.Secret{}, fmt.Errorf("iam: seal secret: %w", err)
	}
	k := keyRecord{AccessKey: AccessKey{ID: id, User: user, Status: Active, Created: d.clock().UTC()}, Sealed: sealed}
	v, err := json.Marshal(k)
	if err != nil {
		return AccessKey{}, sigv4.Secret{}, err
	}
	_, err = d.update(ctx, func(tx store.Tx) error {
		if _, err := getUser(ctx, tx, user); err != nil {
			return err
		}
		if ks, err := keysOf(ctx, tx, user); err != nil {
			return err
		} else if len(ks) >= MaxKeysPerUser {
			return fmt.Errorf("%w: Cannot exceed quota for AccessKeysPerUser: %d", ErrLimitExceeded, MaxKeysPerUser)
		}
		_, err := tx.Create(ctx, KindAccessKey, id, v)
		return err
	})
	if err != nil {
		return AccessKey{}, sigv4.Secret{}, fmt.Errorf("iam: create access key for %s: %w", user, err)
	}
	return k.AccessKey, sigv4.NewSecret(sec), nil
}

// SetAccessKeyStatus activates or deactivates an access key.
func (d *Directory) SetAccessKeyStatus(ctx context.Context, id string, s Status) error {
	return d.UpdateAccessKey(ctx, "", id, s)
}

// UpdateAccessKey activates or deactivates an access key of user (any
// user's when user is ""). A deactivated key is refused on its next
// request, on every node: keys are read from the store on each request.
func (d *Directory) UpdateAccessKey(ctx context.Context, user, id string, s Status) error {
	if s != Active && s != Inactive {
		return fmt.Errorf("%w: status %q is not %s or %s", ErrInvalidInput, s, Active, Inactive)
	}
	_, err := d.update(ctx, func(tx store.Tx) error {
		rec, k, err := getKey(ctx, tx, id)
		if err != nil {
			return err
		}
		if user != "" && k.User != user {
			return awsError(ErrNoSuchEntity, "The Access Key with id %s cannot be found.", clip(id))
		}
		k.Status = s
		v, err := json.Marshal(k)
		if err != nil {
			return err
		}
		_, err = tx.Replace(ctx, KindAccessKey, id, v, rec.Revision)
		return err
	})
	return err
}

func getKey(ctx context.Context, r store.Reader, id string) (store.Record, keyRecord, error) {
	var k keyRecord
	rec, err := r.Get(ctx, KindAccessKey, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return rec, k, awsError(ErrNoSuchEntity, "The Access Key with id %s cannot be found.", clip(id))
	}
	if err != nil {
		return rec, k, fmt.Errorf("iam: get access key %s: %w", id, err)
	}
	if err := json.Unmarshal(rec.Value, &k); err != nil {
		return rec, k, fmt.Errorf("iam: access key %s: %w", id, err)
	}
	return rec, k, nil
}

// Lookup implements [sigv4.KeyStore]: it opens the key's sealed secret. An
// unknown key wraps [sigv4.ErrUnknownKey] and an inactive one
// [sigv4.ErrKeyDisabled]; the client is told InvalidClientTokenId for
// both, as AWS tells it.
func (d *Directory) Lookup(ctx context.Context, accessKeyID string) (sigv4.Credentials, error) {
	k, err := d.openKey(ctx, accessKeyID)
	if errors.Is(err, ErrNoSuchEntity) {
		return sigv4.Credentials{}, fmt.Errorf("%w: %w", sigv4.ErrUnknownKey, err)
	}
	if err != nil {
		return sigv4.Credentials{}, err
	}
	if k.status != Active {
		return sigv4.Credentials{}, fmt.Errorf("%w: %s is %s", sigv4.ErrKeyDisabled, accessKeyID, k.status)
	}
	return k.creds, nil
}

// openSecret unseals an access key's secret.
func openSecret(d *Directory, k keyRecord) ([]byte, error) {
	plain, err := secret.Open(d.kek, k.Sealed, []byte(k.ID))
	if err != nil {
		return nil, fmt.Errorf("iam: open secret of %s: %w", k.ID, err)
	}
	return plain, nil
}

// UserOfKey returns the user an access key belongs to.
func (d *Directory) UserOfKey(ctx context.Context, accessKeyID string) (User, error) {
	k, err := d.openKey(ctx, accessKeyID)
	if err != nil {
		return User{}, err
	}
	return k.user, nil
}

// randomID is prefix and 16 characters of base32 (A-Z, 2-7), as AWS's
// unique ids and access key ids look.
func (d *Directory) randomID(prefix string) (string, error) {
	var b [10]byte
	if _, err := io.ReadFull(d.rand, b[:]); err != nil {
		return "", fmt.Errorf("iam: random: %w", err)
	}
	return prefix + base32.StdEncoding.EncodeToString(b[:]), nil
}
