package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
)

// RSA key sizes the CA certifies. The upper bound keeps a CSR's signature
// check cheap.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

const redacted = "[REDACTED]"

// PrivateKey is a private key that never prints: fmt verbs, log/slog and
// encoders show it as "[REDACTED]". It is a crypto.Signer, so it can sign
// directly or sit in a tls.Certificate. The blank func field makes it
// incomparable, so nobody compares keys with ==.
type PrivateKey struct {
	_ [0]func()
	s crypto.Signer
}

var (
	_ crypto.Signer  = (*PrivateKey)(nil)
	_ fmt.Formatter  = (*PrivateKey)(nil)
	_ slog.LogValuer = (*PrivateKey)(nil)
)

// Public returns the public half.
func (k *PrivateKey) Public() crypto.PublicKey { return k.s.Public() }

// Sign signs digest with the key.
func (k *PrivateKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.s.Sign(rand, digest, opts)
}

// Signer returns the key itself (an *ecdsa.PrivateKey, *rsa.PrivateKey or
// ed25519.PrivateKey), which prints like any key: only for code that
// needs the concrete type.
func (k *PrivateKey) Signer() crypto.Signer { return k.s }

// String returns "[REDACTED]".
func (k *PrivateKey) String() string { return redacted }

// GoString returns "[REDACTED]".
func (k *PrivateKey) GoString() string { return redacted }

// Format prints "[REDACTED]" whatever the verb.
func (k *PrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue makes log/slog print "[REDACTED]".
func (k *PrivateKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText makes encoders write "[REDACTED]".
func (k *PrivateKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// KeyPEM is PEM text that holds a private key. It prints, logs and
// marshals as "[REDACTED]"; the bytes themselves are the slice.
type KeyPEM []byte

var (
	_ fmt.Formatter  = KeyPEM(nil)
	_ slog.LogValuer = KeyPEM(nil)
)

// String returns "[REDACTED]".
func (KeyPEM) String() string { return redacted }

// GoString returns "[REDACTED]".
func (KeyPEM) GoString() string { return redacted }

// Format prints "[REDACTED]" whatever the verb.
func (KeyPEM) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue makes log/slog print "[REDACTED]".
func (KeyPEM) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText makes encoders write "[REDACTED]".
func (KeyPEM) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// generateKey makes an ECDSA P-256 key. Since Go 1.26 the key always
// comes from the system's secure source.
func generateKey() (*PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return &PrivateKey{s: k}, nil
}

// checkPublicKey applies the CA's key policy: ECDSA P-256 or P-384, RSA of
// 2048 to 8192 bits, or Ed25519. Errors wrap ErrKeyType.
func checkPublicKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("%w: ecdsa curve %s (want p-256 or p-384)", ErrKeyType, curveName(k.Curve))
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); {
		case bits < minRSABits:
			return fmt.Errorf("%w: rsa key of %d bits is too short (at least %d)", ErrKeyType, bits, minRSABits)
		case bits > maxRSABits:
			return fmt.Errorf("%w: rsa key of %d bits is too long (at most %d)", ErrKeyType, bits, maxRSABits)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("%w: %T keys are not certified (use ecdsa p-256/p-384, rsa or ed25519)", ErrKeyType, pub)
	}
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "unknown"
	}
	return c.Params().Name
}

// sameKey reports whether two public keys are equal.
func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// marshalKey returns the PKCS#8 DER of k. The caller clears it after use.
func marshalKey(k *PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.s)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %T", k.s)
	}
	return der, nil
}

// parseKeyDER reads a private key in PKCS#8, SEC 1 or PKCS#1 DER. Errors
// never quote the bytes or the parser's detail.
func parseKeyDER(der []byte) (*PrivateKey, error) {
	var key any
	var err error
	if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if key, err = x509.ParseECPrivateKey(der); err != nil {
			if key, err = x509.ParsePKCS1PrivateKey(der); err != nil {
				return nil, fmt.Errorf("%w: private key is not pkcs#8, sec 1 or pkcs#1 der", ErrMalformed)
			}
		}
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T keys cannot sign", ErrKeyType, key)
	}
	return &PrivateKey{s: s}, nil
}

// PEM block types.
const (
	pemCert  = "CERTIFICATE"
	pemPKCS8 = "PRIVATE KEY"
	pemEC    = "EC PRIVATE KEY"
	pemRSA   = "RSA PRIVATE KEY"
)

// parseCertsPEM reads every CERTIFICATE block of data, skipping blocks of
// other types; text that holds no PEM block at all is malformed.
func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	found := false
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		found = true
		if b.Type != pemCert {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrMalformed, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if !found {
		return nil, fmt.Errorf("%w: no pem blocks found", ErrMalformed)
	}
	return certs, nil
}

// parseKeyPEM reads the first private key block of data (PKCS#8, SEC 1 or
// PKCS#1). It returns nil and no error when data holds PEM blocks but no
// key.
func parseKeyPEM(data []byte) (*PrivateKey, error) {
	found := false
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		found = true
		switch b.Type {
		case pemPKCS8, pemEC, pemRSA:
			k, err := parseKeyDER(b.Bytes)
			clear(b.Bytes)
			return k, err
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: no pem blocks found in the key", ErrMalformed)
	}
	return nil, nil
}
