package device

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every refusal the package returns matches exactly one
// of them under errors.Is; store failures pass through wrapped, classified
// by the store's own sentinels.
var (
	// ErrConfig: Open was given an invalid Config.
	ErrConfig = errors.New("device: invalid configuration")
	// ErrInvalid: an administrator's request that breaks a rule: a name,
	// owner, group or lifetime.
	ErrInvalid = errors.New("device: invalid request")
	// ErrNotFound: no device or token has that id.
	ErrNotFound = errors.New("device: not found")

	// ErrToken: an enrollment token that is unknown, already used,
	// expired or revoked. Callers are never told which.
	ErrToken = errors.New("enrollment token already used or unknown")
	// ErrCSR: a certificate request the CA will not sign: malformed, a
	// weak or unknown key, a request for a CA, a URI of its own. It also
	// wraps the pki error that says why.
	ErrCSR = errors.New("device: certificate request refused")

	// ErrPlainHTTP: an enrollment, report or renewal that did not arrive
	// over TLS (directly, or through a trusted proxy that says so):
	// refused unread, since an enrollment token is a bearer secret.
	ErrPlainHTTP = errors.New("device: not over TLS")
	// ErrTooLarge: an input longer than its limit, refused unread.
	ErrTooLarge = errors.New("device: input too large")
	// ErrMalformed: a posture report, renewal or request that does not
	// parse, or lacks what it must carry.
	ErrMalformed = errors.New("device: malformed input")
	// ErrCertificate: a certificate chain that is not a valid device
	// certificate of this CA: untrusted, expired, not a /device/ ID, not
	// one the registry issued to that device, or (for a renewal) not the
	// device's current certificate.
	ErrCertificate = errors.New("device: device certificate refused")
	// ErrSignature: a report or renewal whose algorithm does not fit the
	// certificate's key or whose signature does not verify.
	ErrSignature = errors.New("device: signature invalid")
	// ErrUnknownDevice: a device ID the registry does not hold.
	ErrUnknownDevice = errors.New("device: unknown device")
	// ErrRevoked: a revoked device, or a revoked certificate.
	ErrRevoked = errors.New("device: device revoked")
	// ErrStale: a report or renewal signed longer ago than MaxClockSkew.
	ErrStale = errors.New("device: signed too long ago")
	// ErrFuture: a report or renewal signed later than MaxClockSkew from
	// now.
	ErrFuture = errors.New("device: signed in the future")
	// ErrReplay: a report or renewal not newer than the last one of its
	// kind accepted from the device.
	ErrReplay = errors.New("device: replayed")
	// ErrLimit: a renewal of a device that already holds
	// MaxLiveCertificates unexpired certificates.
	ErrLimit = errors.New("device: too many unexpired certificates")
)

// tokenRefusal is an ErrToken with the reason the audit log records and
// the caller never sees.
type tokenRefusal struct {
	reason string // "malformed", "unknown", "used", "expired"
	id     string // the token's public id, when the token is known
}

func (e *tokenRefusal) Error() string { return ErrToken.Error() + " (" + e.reason + ")" }
func (e *tokenRefusal) Unwrap() error { return ErrToken }

// quote renders an untrusted value for an error message: quoted, and cut
// short so that an error stays small whatever the input holds.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}
