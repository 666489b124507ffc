package config

import "time"

// String formats d in Go's syntax, such as "1m30s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d in Go's syntax, so that a Config encodes as it is
// written, whether as YAML or JSON.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads d in Go's syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
