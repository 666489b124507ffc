package pki

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

// Store kinds of the CA's records.
const (
	// KindCA holds the CA: one record, key "ca", a caRecord in JSON.
	KindCA = "pki-ca"
	// KindJWTKey holds the JWT-SVID signing keys, keyed by generation in
	// ten zero-padded digits.
	KindJWTKey = "pki-jwt-key"
	// KindCert holds one CertRecord per issued certificate, keyed by its
	// serial number in lowercase hex.
	KindCert = "pki-cert"
	// KindRevoked holds one Revocation per revoked certificate, keyed by
	// its serial number in lowercase hex.
	KindRevoked = "pki-revoked"

	caKey = "ca"
)

// caRecord is the stored CA. Private keys are sealed under the KEK with
// their certificate's hash in the associated data, so a sealed key cannot
// be moved to another certificate or role.
type caRecord struct {
	TrustDomain string `json:"trust_domain"`
	// Chain is DER, the signing certificate first and the root last.
	Chain [][]byte `json:"chain"`
	// Key is chain[0]'s private key, PKCS#8, sealed.
	Key []byte `json:"key"`
	// RootKey is the root's private key, sealed, when ztgate holds it: it
	// made the root, or the root was imported with its key.
	RootKey  []byte    `json:"root_key,omitempty"`
	Imported bool      `json:"imported,omitempty"`
	Created  time.Time `json:"created"`
}

// jwtKeyRecord is a stored JWT-SVID signing key.
type jwtKeyRecord struct {
	Kid     string    `json:"kid"`
	Created time.Time `json:"created"`
	Public  []byte    `json:"public"`  // PKIX DER
	Private []byte    `json:"private"` // PKCS#8, sealed with the kid as associated data
}

// CertRecord is the store's account of one issued certificate.
type CertRecord struct {
	Serial    string    `json:"serial"` // lowercase hex
	Subject   string    `json:"subject"`
	SPIFFEID  string    `json:"spiffe_id,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Requester string    `json:"requester"` // who asked, as the caller named them
	Issued    time.Time `json:"issued"`
	DER       []byte    `json:"der"`
}

// Revocation is the store's account of one revoked certificate.
type Revocation struct {
	Serial   string    `json:"serial"`
	Reason   Reason    `json:"reason"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	NotAfter time.Time `json:"not_after"` // the certificate's, so expired entries leave the CRL
}

// serialKey is a serial number's record key: lowercase hex of its
// minimal big-endian bytes.
func serialKey(serial *big.Int) string { return hex.EncodeToString(serial.Bytes()) }

// parseSerialKey reads a record key written by serialKey.
func parseSerialKey(s string) (*big.Int, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 || len(b) > 20 || b[0] == 0 {
		return nil, false
	}
	return new(big.Int).SetBytes(b), true
}

func genKey(gen int64) string { return fmt.Sprintf("%010d", gen) }

// caKeyAAD binds a sealed CA key to its certificate and its role.
func caKeyAAD(role string, certDER []byte) []byte {
	h := sha256.Sum256(certDER)
	return []byte("ztgate pki " + role + " key " + hex.EncodeToString(h[:]))
}

func jwtKeyAAD(kid string) []byte { return []byte("ztgate pki jwt-svid key " + kid) }

// sealKey seals k's PKCS#8 encoding under kek.
func sealKey(kek *secret.KEK, k *PrivateKey, aad []byte) ([]byte, error) {
	der, err := marshalKey(k)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	sealed, err := secret.Seal(kek, der, aad)
	if err != nil {
		return nil, fmt.Errorf("seal private key: %w", err)
	}
	return sealed, nil
}

// openKey unseals a key sealed by sealKey. Errors name what failed,
// never the content.
func openKey(kek *secret.KEK, sealed, aad []byte) (*PrivateKey, error) {
	der, err := secret.Open(kek, sealed, aad)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	k, err := parseKeyDER(der)
	if err != nil {
		return nil, errors.New("the sealed key opens but does not parse")
	}
	return k, nil
}

func decodeRecord(rec store.Record, v any) error {
	if err := json.Unmarshal(rec.Value, v); err != nil {
		return fmt.Errorf("%w: record %s/%s is not valid json", ErrCA, rec.Kind, rec.Key)
	}
	return nil
}
