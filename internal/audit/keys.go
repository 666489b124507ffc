package audit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ztgate/ztgate/internal/secret"
)

// Key files within the keys directory.
const (
	privateKeyExt = ".key"
	publicKeyExt  = ".pub"
	keyIDHex      = 16
)

// signingKey is an audit signing key: ECDSA P-256.
type signingKey struct {
	id   string
	priv *ecdsa.PrivateKey
}

// keyID names a public key: the first 16 hex digits of the SHA-256 of its
// PKIX DER encoding.
func keyID(pubDER []byte) string {
	sum := sha256.Sum256(pubDER)
	return hex.EncodeToString(sum[:])[:keyIDHex]
}

// keyAAD binds a sealed private key to its purpose and id, so that a key
// sealed for another use, or another audit key, cannot stand in for it.
func keyAAD(id string) []byte { return []byte("ztgate audit signing key " + id) }

// isKeyID reports whether s has the form of a key id.
func isKeyID(s string) bool {
	if len(s) != keyIDHex {
		return false
	}
	for i := 0; i < len(s); i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}

// loadOrCreateKey returns the active signing key of the audit directory
// dir, creating one on first use. The key named by keys/active is used;
// when there is none, a new key is generated, its private half sealed with
// kek, and keys/active written last, so that a crash part way leaves at
// worst an unused key behind.
func loadOrCreateKey(dir string, kek *secret.KEK) (*signingKey, error) {
	kd := filepath.Join(dir, keysDir)
	if err := mkdirs(kd); err != nil {
		return nil, fmt.Errorf("audit keys: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(kd, activeName))
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if !isKeyID(id) {
			return nil, fmt.Errorf("audit keys: %s does not name a key", filepath.Join(kd, activeName))
		}
		return openPrivateKey(kd, id, kek)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("audit keys: %w", err)
	}

	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("audit keys: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("audit keys: %w", err)
	}
	id := keyID(pubDER)
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("audit keys: %w", err)
	}
	sealed, err := secret.Seal(kek, privDER, keyAAD(id))
	clear(privDER)
	if err != nil {
		return nil, fmt.Errorf("audit keys: %w", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	for _, f := range []struct {
		name string
		data []byte
	}{
		{id + privateKeyExt, sealed},
		{id + publicKeyExt, pubPEM},
		{activeName, []byte(id + "\n")},
	} {
		if err := writeFileAtomic(filepath.Join(kd, f.name), f.data); err != nil {
			return nil, fmt.Errorf("audit keys: %w", err)
		}
	}
	return &signingKey{id: id, priv: priv}, nil
}

// openPrivateKey opens the sealed private key id in the keys directory kd
// and checks it against its id.
func openPrivateKey(kd, id string, kek *secret.KEK) (*signingKey, error) {
	sealed, err := os.ReadFile(filepath.Join(kd, id+privateKeyExt))
	if err != nil {
		return nil, fmt.Errorf("audit signing key %s: %w", id, err)
	}
	der, err := secret.Open(kek, sealed, keyAAD(id))
	if errors.Is(err, secret.ErrWrongKey) {
		// A start given a wrong key-encryption key while the store that
		// would have refused it was out of reach leaves this behind.
		return nil, fmt.Errorf("audit signing key %s: %w; first make sure the key-encryption key given now (ZTGATE_KEK or the key file) is the right one; if it is, and a start with a wrong one made this key, remove %s (the key's public half, %s, stays to verify what it signed) and start again: a new signing key is made",
			id, err, filepath.Join(kd, activeName), filepath.Join(kd, id+publicKeyExt))
	}
	if err != nil {
		return nil, fmt.Errorf("audit signing key %s: %w", id, err)
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("audit signing key %s: %w", id, err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("audit signing key %s: not an ECDSA P-256 key", id)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("audit signing key %s: %w", id, err)
	}
	if keyID(pubDER) != id {
		return nil, fmt.Errorf("audit signing key %s: the key inside has id %s", id, keyID(pubDER))
	}
	return &signingKey{id: id, priv: priv}, nil
}

// parsePublicKey parses a public key file: one PEM "PUBLIC KEY" block
// holding an ECDSA P-256 key. It returns the key and its id.
func parsePublicKey(b []byte) (*ecdsa.PublicKey, string, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" || strings.TrimSpace(string(rest)) != "" {
		return nil, "", errors.New("not a PEM public key")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, "", err
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, "", errors.New("not an ECDSA P-256 key")
	}
	return pub, keyID(blk.Bytes), nil
}
