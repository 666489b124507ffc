// Package session issues and opens the session tokens of ztgate's
// temporary credentials (STS GetSessionToken). A token carries every fact
// about its credential, the temporary secret included, sealed under the
// key-encryption key with authenticated encryption: any node holding the
// KEK can verify a request signed with temporary credentials without
// reading the store, and a token cannot be altered or forged without the
// KEK. A token cannot be withdrawn alone; instead every session of a
// principal issued before a time can be refused, through a revocation
// record in the store that each node keeps in memory ([Revocations]).
package session

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/sigv4"
)

// KeyPrefix begins every temporary access key id, as on AWS.
const KeyPrefix = "ASIA"

// MaxTokenLen bounds the token text Open will decode. A user's token is a
// few hundred characters; a role session's carries its session policy and
// tags, bounded by MaxPacked.
const MaxTokenLen = 16384

// MaxPacked bounds a token's sealed facts: what a role session's policy,
// policy ARNs and tags may take together (AWS's PackedPolicyTooLarge).
const MaxPacked = 8192

// ErrPackedTooLarge classifies a grant whose session policy and tags do
// not fit in a token.
var ErrPackedTooLarge = errors.New("session: packed policy and tags too large")

// aad binds sealed tokens to this use, so that no other value sealed under
// the KEK (an access key's secret, the key check value) is taken for one.
var aad = []byte("ztgate sts session token")

// ErrInvalid classifies a token that is not one this KEK sealed: garbage,
// altered, truncated or sealed under another key. An expired token is
// reported with [sigv4.ErrExpiredToken] instead.
var ErrInvalid = errors.New("session: invalid token")

// Grant is what a credential is issued for.
type Grant struct {
	Principal   string // the ARN the credential acts as
	PrincipalID string // the principal's unique id (AIDA... for a user)
	Account     string
	SourceKeyID string // the long-term access key that asked for it
	MFA         bool   // whether the request that asked for it was MFA-authenticated
	Duration    time.Duration
	Role        *RoleSession // set for a role session (AssumeRole*)
}

// RoleSession is what a role session adds to a credential.
type RoleSession struct {
	RoleARN     string // with its path
	SessionName string
	// SourceIdentity is set once, by the first AssumeRole of a chain, and
	// carried by every session after it.
	SourceIdentity string
	// Tags are the session's principal tags: the role's, overridden by
	// session tags and those carried from a chain.
	Tags map[string]string
	// TransitiveTagKeys are the session tags a chained AssumeRole carries on.
	TransitiveTagKeys []string
	// Policy is the inline session policy (JSON), PolicyARNs the managed
	// session policies: the session acts with no more than they allow.
	Policy     string
	PolicyARNs []string
	// Chained: the session was assumed by a role session.
	Chained bool
	// Provider is the web identity provider ("host/path") and Subject the
	// token's subject, for AssumeRoleWithWebIdentity.
	Provider, Subject string
}

// Claims are a temporary credential's facts, as sealed in its token.
type Claims struct {
	AccessKeyID string // KeyPrefix + 16 base32 characters
	Secret      sigv4.Secret
	Principal   string
	PrincipalID string
	Account     string
	SourceKeyID string
	MFA         bool
	Issued      time.Time
	Expires     time.Time
	Role        *RoleSession
	// Packed is the size of the sealed facts when issued (0 when opened):
	// what PackedPolicySize reports as a share of MaxPacked.
	Packed int
}

// wire is Claims as sealed. Short names keep tokens short; the secret is a
// plain string here only because it is sealed.
type wire struct {
	V           int       `json:"v"`
	AccessKeyID string    `json:"k"`
	Secret      string    `json:"s"`
	Principal   string    `json:"p"`
	PrincipalID string    `json:"pi"`
	Account     string    `json:"a"`
	SourceKeyID string    `json:"sk"`
	MFA         bool      `json:"m,omitempty"`
	Issued      int64     `json:"iat"`
	IssuedNano  int64     `json:"iatn,omitempty"` // the issue time to the nanosecond
	Expires     int64     `json:"exp"`
	Role        *wireRole `json:"r,omitempty"`
}

type wireRole struct {
	ARN            string            `json:"a"`
	Session        string            `json:"n"`
	SourceIdentity string            `json:"si,omitempty"`
	Tags           map[string]string `json:"t,omitempty"`
	Transitive     []string          `json:"tt,omitempty"`
	Policy         string            `json:"p,omitempty"`
	PolicyARNs     []string          `json:"pa,omitempty"`
	Chained        bool              `json:"c,omitempty"`
	Provider       string            `json:"fp,omitempty"`
	Subject        string            `json:"fs,omitempty"`
}

func (r *RoleSession) wire() *wireRole {
	if r == nil {
		return nil
	}
	return &wireRole{
		ARN: r.RoleARN, Session: r.SessionName, SourceIdentity: r.SourceIdentity,
		Tags: r.Tags, Transitive: r.TransitiveTagKeys, Policy: r.Policy, PolicyARNs: r.PolicyARNs,
		Chained: r.Chained, Provider: r.Provider, Subject: r.Subject,
	}
}

func (w *wireRole) session() *RoleSession {
	if w == nil {
		return nil
	}
	return &RoleSession{
		RoleARN: w.ARN, SessionName: w.Session, SourceIdentity: w.SourceIdentity,
		Tags: w.Tags, TransitiveTagKeys: w.Transitive, Policy: w.Policy, PolicyARNs: w.PolicyARNs,
		Chained: w.Chained, Provider: w.Provider, Subject: w.Subject,
	}
}

const wireVersion = 1

// Tokens issues and opens session tokens under one KEK.
type Tokens struct {
	kek   *secret.KEK
	clock func() time.Time
	rand  io.Reader
}

// Config is what Tokens need.
type Config struct {
	KEK   *secret.KEK
	Clock func() time.Time // time.Now when nil
	Rand  io.Reader        // crypto/rand when nil
}

// New returns Tokens sealing under c.KEK.
func New(c Config) *Tokens {
	t := &Tokens{kek: c.KEK, clock: c.Clock, rand: c.Rand}
	if t.clock == nil {
		t.clock = time.Now
	}
	if t.rand == nil {
		t.rand = rand.Reader
	}
	return t
}

// Issue makes a temporary credential for g, valid from now for
// g.Duration (to the second), and returns its facts and its token.
func (t *Tokens) Issue(g Grant) (Claims, string, error) {
	if g.Duration < time.Second {
		return Claims{}, "", fmt.Errorf("session: duration %v is too short", g.Duration)
	}
	var b [10 + 30]byte // 16 base32 characters of id, 40 base64 characters of secret
	if _, err := io.ReadFull(t.rand, b[:]); err != nil {
		return Claims{}, "", fmt.Errorf("session: random: %w", err)
	}
	id := KeyPrefix + base32.StdEncoding.EncodeToString(b[:10])
	sec := base64.StdEncoding.EncodeToString(b[10:])
	clear(b[:])
	// The issue time is kept to the nanosecond, so that a revocation
	// refuses exactly the sessions issued before it, not those issued in
	// the same second just after; the expiry is whole seconds, as AWS's.
	now := t.clock().UTC()
	c := Claims{
		AccessKeyID: id, Secret: sigv4.NewSecret(sec),
		Principal: g.Principal, PrincipalID: g.PrincipalID, Account: g.Account,
		SourceKeyID: g.SourceKeyID, MFA: g.MFA,
		Issued: now, Expires: now.Truncate(time.Second).Add(g.Duration.Truncate(time.Second)),
		Role: g.Role,
	}
	plain, err := json.Marshal(wire{
		V: wireVersion, AccessKeyID: id, Secret: sec,
		Principal: c.Principal, PrincipalID: c.PrincipalID, Account: c.Account,
		SourceKeyID: c.SourceKeyID, MFA: c.MFA,
		Issued: c.Issued.Unix(), IssuedNano: c.Issued.UnixNano(), Expires: c.Expires.Unix(),
		Role: g.Role.wire(),
	})
	if err != nil {
		return Claims{}, "", err
	}
	if len(plain) > MaxPacked {
		clear(plain)
		return Claims{}, "", fmt.Errorf("%w: %d bytes, at most %d", ErrPackedTooLarge, len(plain), MaxPacked)
	}
	c.Packed = len(plain)
	sealed, err := secret.Seal(t.kek, plain, aad)
	clear(plain)
	if err != nil {
		return Claims{}, "", fmt.Errorf("session: seal: %w", err)
	}
	return c, base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open returns the facts sealed in token. A token that this KEK did not
// seal, or that was altered, yields an error wrapping [ErrInvalid]; one
// past its expiry an error wrapping [sigv4.ErrExpiredToken].
func (t *Tokens) Open(token string) (Claims, error) {
	if len(token) > MaxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxTokenLen)
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: not base64url", ErrInvalid)
	}
	plain, err := secret.Open(t.kek, sealed, aad)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var w wire
	err = json.Unmarshal(plain, &w)
	clear(plain)
	if err != nil || w.V != wireVersion || !strings.HasPrefix(w.AccessKeyID, KeyPrefix) || w.Secret == "" {
		// Authentic but unreadable: sealed by a version of ztgate that
		// wrote another layout.
		return Claims{}, fmt.Errorf("%w: unknown layout", ErrInvalid)
	}
	c := Claims{
		AccessKeyID: w.AccessKeyID, Secret: sigv4.NewSecret(w.Secret),
		Principal: w.Principal, PrincipalID: w.PrincipalID, Account: w.Account,
		SourceKeyID: w.SourceKeyID, MFA: w.MFA,
		Issued: time.Unix(w.Issued, 0).UTC(), Expires: time.Unix(w.Expires, 0).UTC(),
		Role: w.Role.session(),
	}
	if w.IssuedNano/int64(time.Second) == w.Issued {
		c.Issued = time.Unix(0, w.IssuedNano).UTC()
	}
	if !t.clock().Before(c.Expires) {
		return Claims{}, fmt.Errorf("%w: %s expired at %s", sigv4.ErrExpiredToken, c.AccessKeyID, c.Expires.Format(time.RFC3339))
	}
	return c, nil
}

// KeyStore resolves temporary access keys from their tokens and every
// other key through Keys: it is the [sigv4.KeyStore] of a service that
// accepts temporary credentials.
type KeyStore struct {
	Keys    sigv4.KeyStore
	Tokens  *Tokens
	Revoked *Revocations // nil: no session is revoked
}

var _ sigv4.TokenKeyStore = KeyStore{}

// Lookup implements [sigv4.KeyStore]. A temporary key presented without
// its token is unknown.
func (k KeyStore) Lookup(ctx context.Context, accessKeyID string) (sigv4.Credentials, error) {
	if strings.HasPrefix(accessKeyID, KeyPrefix) {
		return sigv4.Credentials{}, fmt.Errorf("%w: temporary key %s without its session token", sigv4.ErrUnknownKey, accessKeyID)
	}
	return k.Keys.Lookup(ctx, accessKeyID)
}

// LookupToken implements [sigv4.TokenKeyStore]: the secret of a temporary
// key comes out of its token, which must have been issued for that key.
func (k KeyStore) LookupToken(ctx context.Context, accessKeyID, token string) (sigv4.Credentials, error) {
	if !strings.HasPrefix(accessKeyID, KeyPrefix) {
		// A long-term key with a token: the Verifier refuses the token
		// as not the key's.
		return k.Keys.Lookup(ctx, accessKeyID)
	}
	c, err := k.Tokens.Open(token)
	if errors.Is(err, ErrInvalid) {
		return sigv4.Credentials{}, fmt.Errorf("%w: %w", sigv4.ErrUnknownKey, err)
	}
	if err != nil {
		return sigv4.Credentials{}, err
	}
	if c.AccessKeyID != accessKeyID {
		return sigv4.Credentials{}, fmt.Errorf("%w: the session token is not %s's", sigv4.ErrUnknownKey, accessKeyID)
	}
	if err := k.Revoked.Check(&c); err != nil {
		// AWS answers a revoked session as an invalid token.
		return sigv4.Credentials{}, fmt.Errorf("%w: %w", sigv4.ErrUnknownKey, err)
	}
	return sigv4.Credentials{AccessKeyID: accessKeyID, Secret: c.Secret, SessionToken: token}, nil
}
