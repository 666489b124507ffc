package device

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// reportClaims is a report's payload as signed: the device it is about
// (sub), when it was signed (iat, seconds since the epoch), and the report.
type reportClaims struct {
	Sub string `json:"sub"`
	Iat int64  `json:"iat"`
	Report
}

// wireClaims reads a payload with every required member a pointer, so
// that a missing fact is refused rather than read as false. Members it
// does not know are ignored, so that newer agents can say more.
type wireClaims struct {
	Sub             *string      `json:"sub"`
	Iat             *json.Number `json:"iat"`
	OS              *string      `json:"os"`
	OSVersion       *string      `json:"os_version"`
	Distribution    string       `json:"distribution"`
	DiskEncrypted   *bool        `json:"disk_encrypted"`
	FirewallEnabled *bool        `json:"firewall_enabled"`
	ScreenLock      *bool        `json:"screen_lock"`
	AgentVersion    string       `json:"agent_version"`
	CollectedAt     *time.Time   `json:"collected_at"`
	Notes           []string     `json:"notes"`
}

// maxIat is the latest iat read, in 2106: far beyond any clock, and far
// from overflowing time arithmetic.
const maxIat = math.MaxUint32

// parseClaims reads and checks a verified payload. Errors wrap
// ErrMalformed.
func parseClaims(payload []byte) (sub string, iat time.Time, r Report, err error) {
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil {
		return "", iat, r, fmt.Errorf("%w: report claims are not a json object of the right types", ErrMalformed)
	}
	switch {
	case w.Sub == nil || w.Iat == nil:
		return "", iat, r, fmt.Errorf("%w: report lacks sub or iat", ErrMalformed)
	case w.OS == nil || w.OSVersion == nil || w.DiskEncrypted == nil || w.FirewallEnabled == nil || w.ScreenLock == nil || w.CollectedAt == nil:
		return "", iat, r, fmt.Errorf("%w: report lacks one of os, os_version, disk_encrypted, firewall_enabled, screen_lock, collected_at", ErrMalformed)
	}
	// iat is whole seconds: replays are judged by it, and a fraction
	// would only make equal instants compare unequal.
	n, perr := strconv.ParseInt(w.Iat.String(), 10, 64)
	if perr != nil || n <= 0 || n > maxIat {
		return "", iat, r, fmt.Errorf("%w: report iat is not a whole number of seconds in range", ErrMalformed)
	}
	r = Report{
		OS: *w.OS, OSVersion: *w.OSVersion, Distribution: w.Distribution,
		DiskEncrypted: *w.DiskEncrypted, FirewallEnabled: *w.FirewallEnabled, ScreenLock: *w.ScreenLock,
		AgentVersion: w.AgentVersion, CollectedAt: w.CollectedAt.UTC(), Notes: w.Notes,
	}
	if err := r.validate(); err != nil {
		return "", iat, Report{}, err
	}
	return *w.Sub, time.Unix(n, 0).UTC(), r, nil
}
