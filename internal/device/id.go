package device

import (
	"crypto/rand"
	"encoding/base32"
	"strings"

	"github.com/ztgate/ztgate/internal/pki"
)

// Device IDs are "dev-" and 16 characters of lowercase base32: 80 random
// bits, so that IDs are never guessed nor reused, and every character is
// allowed in a SPIFFE ID's path.
const (
	idPrefix  = "dev-"
	idChars   = 16
	idLen     = len(idPrefix) + idChars
	idPathDir = "/device/"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a random device ID.
func newID() string {
	var b [idChars * 5 / 8]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return idPrefix + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s is a device ID in the form the registry
// issues: "dev-" and 16 characters of a-z and 2-7.
func ValidID(s string) bool {
	if len(s) != idLen || !strings.HasPrefix(s, idPrefix) {
		return false
	}
	for i := len(idPrefix); i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// IDOf returns the device ID a SPIFFE ID names, when it is a device's:
// spiffe://TRUST_DOMAIN/device/DEVICE_ID. Enforcement points call it on a
// verified X.509-SVID to tell a device from a workload; it does not check
// that the registry holds the device (Registry.Context does).
func IDOf(id pki.ID) (string, bool) {
	p := id.Path()
	if !strings.HasPrefix(p, idPathDir) {
		return "", false
	}
	dev := p[len(idPathDir):]
	if !ValidID(dev) {
		return "", false
	}
	return dev, true
}

// spiffeID is the SPIFFE ID of device id in td.
func spiffeID(td pki.TrustDomain, id string) (pki.ID, error) {
	return td.NewID(idPathDir + id)
}
