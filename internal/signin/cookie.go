package signin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
)

// A sealed cookie holds, under secret.Seal, one version byte, the
// absolute expiry in Unix seconds (8 bytes, big endian) and the id. Its
// associated data names the purpose and the cookie, so a flow cookie is
// not a session cookie and a cookie cannot be renamed.
const (
	cookieVersion = 1
	idBytes       = 16
	idLen         = 2 * idBytes // hex
	// maxCookieLen bounds what is decoded at all: a sealed id is about
	// 170 characters.
	maxCookieLen = 512
)

// b64 is strict: a cookie has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

var errBadCookie = errors.New("cookie is not valid")

// newID returns a fresh random record id.
func newID() string {
	var b [idBytes]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validID reports whether id is of the form newID returns.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func cookieAAD(purpose, name string) []byte {
	return []byte("ztgate signin " + purpose + " cookie v1\x00" + name)
}

// sealCookie seals id and its expiry for the cookie named name.
func sealCookie(k *secret.KEK, purpose, name, id string, expires time.Time) (string, error) {
	b := make([]byte, 0, 9+len(id))
	b = append(b, cookieVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(expires.Unix()))
	b = append(b, id...)
	sealed, err := secret.Seal(k, b, cookieAAD(purpose, name))
	if err != nil {
		return "", fmt.Errorf("signin: seal cookie: %w", err)
	}
	return b64.EncodeToString(sealed), nil
}

// openCookie is the inverse of sealCookie. Every failure is errBadCookie:
// the client learns nothing about why.
func openCookie(k *secret.KEK, purpose, name, value string) (id string, expires time.Time, err error) {
	if len(value) == 0 || len(value) > maxCookieLen {
		return "", time.Time{}, errBadCookie
	}
	raw, err := b64.DecodeString(value)
	if err != nil {
		return "", time.Time{}, errBadCookie
	}
	pt, err := secret.Open(k, raw, cookieAAD(purpose, name))
	if err != nil || len(pt) != 9+idLen || pt[0] != cookieVersion {
		return "", time.Time{}, errBadCookie
	}
	id = string(pt[9:])
	if !validID(id) {
		return "", time.Time{}, errBadCookie
	}
	return id, time.Unix(int64(binary.BigEndian.Uint64(pt[1:9])), 0).UTC(), nil
}

const (
	purposeSession = "session"
	purposeFlow    = "flow"
)

// setCookie sets a host-only, HttpOnly, SameSite=Lax cookie for the whole
// host; a zero expiry makes it last until the browser closes.
func (s *Service) setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if !expires.IsZero() {
		c.Expires = expires
		c.MaxAge = max(1, int(expires.Sub(s.now()).Seconds()))
	}
	http.SetCookie(w, c)
}

func (s *Service) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    "",
		Path:     "/",
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		MaxAge:   -1,
	})
}

// newSecret returns 256 random bits, base64url.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
