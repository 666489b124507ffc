package sigv4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

const redacted = "[REDACTED]"

// Secret is a secret access key. It prints, formats, logs and marshals as
// [REDACTED]; Reveal is the one way to read it. The zero-length array of
// funcs makes Secret (and structs holding it) incomparable, so nobody
// compares secrets with == and its timing.
type Secret struct {
	_ [0]func()
	v string
}

// NewSecret wraps a secret access key.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret itself, for signing-key derivation.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb, %x and %q included,
// prints the redaction rather than the bytes.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler, so JSON and other encoders
// redact too.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Credentials are what a KeyStore knows about one access key.
type Credentials struct {
	AccessKeyID string
	Secret      Secret
	// SessionToken is set for temporary credentials; a request made with
	// them must present exactly this token.
	SessionToken string
}

// KeyStore finds the credentials for an access key id. It returns an error
// wrapping ErrUnknownKey when there is no such key, ErrExpiredToken when
// temporary credentials have expired and ErrKeyDisabled when the key exists
// but may not be used; any other error is treated as internal.
type KeyStore interface {
	Lookup(ctx context.Context, accessKeyID string) (Credentials, error)
}

// TokenKeyStore is a KeyStore that also resolves temporary credentials
// from the session token presented with them, so that credentials whose
// facts travel sealed in the token need no lookup by id. When a request
// carries a session token, the Verifier calls LookupToken instead of
// Lookup; the credentials it returns must name that token in SessionToken.
// Its errors are classified as Lookup's.
type TokenKeyStore interface {
	KeyStore
	LookupToken(ctx context.Context, accessKeyID, sessionToken string) (Credentials, error)
}

// Sentinels a KeyStore returns (wrapped or not).
var (
	ErrUnknownKey   = errors.New("sigv4: unknown access key id")
	ErrExpiredToken = errors.New("sigv4: security token expired")
	ErrKeyDisabled  = errors.New("sigv4: access key disabled")
)
