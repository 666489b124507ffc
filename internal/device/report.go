package device

import (
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// Platforms, as zt:DevicePlatform names them.
const (
	PlatformLinux   = "linux"
	PlatformMacOS   = "macos"
	PlatformWindows = "windows"
	PlatformIOS     = "ios"
	PlatformAndroid = "android"
)

// Limits of a report's text fields.
const (
	maxVersionLen = 64
	maxNotes      = 8
	maxNoteLen    = 200
)

// Report is what a device says about itself. It is signed by the device
// (SignReport) and believed only as far as the device is.
type Report struct {
	// OS is the platform: linux, macos, windows, ios or android.
	OS string `json:"os"`
	// OSVersion is the operating system's version as the device reports
	// it: "14.4.1", or os-release's VERSION_ID ("24.04") on Linux.
	OSVersion string `json:"os_version"`
	// Distribution is os-release's ID on Linux ("ubuntu"); informative.
	Distribution    string `json:"distribution,omitempty"`
	DiskEncrypted   bool   `json:"disk_encrypted"`
	FirewallEnabled bool   `json:"firewall_enabled"`
	ScreenLock      bool   `json:"screen_lock"`
	AgentVersion    string `json:"agent_version,omitempty"`
	// CollectedAt is when the facts were gathered.
	CollectedAt time.Time `json:"collected_at"`
	// Notes say which facts could not be established and were reported
	// false ("screen lock: no graphical session").
	Notes []string `json:"notes,omitempty"`
}

func (r Report) clone() Report {
	r.Notes = slices.Clone(r.Notes)
	return r
}

// validate checks what a stored report must hold. Errors wrap ErrMalformed.
func (r *Report) validate() error {
	switch r.OS {
	case PlatformLinux, PlatformMacOS, PlatformWindows, PlatformIOS, PlatformAndroid:
	default:
		return fmt.Errorf("%w: os %s is not linux, macos, windows, ios or android", ErrMalformed, quote(r.OS))
	}
	if r.OSVersion == "" {
		return fmt.Errorf("%w: os_version is empty", ErrMalformed)
	}
	for name, s := range map[string]string{"os_version": r.OSVersion, "distribution": r.Distribution, "agent_version": r.AgentVersion} {
		if !printable(s, maxVersionLen) {
			return fmt.Errorf("%w: %s is longer than %d bytes or not printable text", ErrMalformed, name, maxVersionLen)
		}
	}
	if r.CollectedAt.IsZero() {
		return fmt.Errorf("%w: collected_at is missing", ErrMalformed)
	}
	if len(r.Notes) > maxNotes {
		return fmt.Errorf("%w: %d notes, at most %d", ErrMalformed, len(r.Notes), maxNotes)
	}
	for _, n := range r.Notes {
		if !printable(n, maxNoteLen) {
			return fmt.Errorf("%w: a note is longer than %d bytes or not printable text", ErrMalformed, maxNoteLen)
		}
	}
	return nil
}

// printable reports whether s is at most limit bytes of UTF-8 without
// control characters: text that logs, records and policies show as is.
func printable(s string, limit int) bool {
	if len(s) > limit || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
