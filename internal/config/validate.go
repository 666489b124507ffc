package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Validate checks a configuration built or changed in code, for instance
// after command-line flags have overridden a loaded file, by the rules
// Parse applies to a file. Its errors, an [Errors], name key paths but no
// file positions.
func Validate(c *Config) error {
	ch := &checker{}
	ch.check(c)
	return finish(ch.errs)
}

// checker applies the rules on values that the types alone do not express.
type checker struct {
	file string
	// at returns where the value at a key path was written; nil when the
	// configuration did not come from a file.
	at   func(path string) (line, col int)
	skip map[string]bool // key paths that already failed to decode
	errs []*Error
}

func (ch *checker) errorf(path, format string, args ...any) {
	ch.errorAt(path, path, format, args...)
}

// errorAt reports a problem with the value at path, placed where the value
// at posPath was written.
func (ch *checker) errorAt(posPath, path, format string, args ...any) {
	if ch.skip[path] {
		return
	}
	e := &Error{File: ch.file, Path: path, Msg: fmt.Sprintf(format, args...), Kind: ErrValue}
	if ch.at != nil {
		e.Line, e.Column = ch.at(posPath)
	}
	ch.errs = append(ch.errs, e)
}

// Accepted values of the keys that take one of a few words.
var (
	logLevels    = []string{"debug", "info", "warn", "error"}
	logFormats   = []string{"auto", "text", "json"}
	storeDrivers = []string{"sqlite", "postgres"}
)

// Bounds of store.postgres.max_conns.
var auditModes = []string{"sync", "async"}

// zeroDurations are the durations for which 0 is meaningful.
var zeroDurations = map[string]bool{"audit.retention.max_age": true}

const (
	minConns = 1
	maxConns = 1000
)

func (ch *checker) check(c *Config) {
	if reason := listenProblem(c.Listen); reason != "" {
		ch.errorf("listen", "%s", reason)
	}
	if c.Node.Name != "" && !validNodeName(c.Node.Name) {
		ch.errorf("node.name", "%q must be 1 to 63 letters, digits, '.', '_' or '-'", clip(c.Node.Name))
	}
	ch.oneOf("log.level", c.Log.Level, logLevels)
	ch.oneOf("log.format", c.Log.Format, logFormats)
	ch.oneOf("store.driver", c.Store.Driver, storeDrivers)
	ch.oneOf("audit.mode", c.Audit.Mode, auditModes)
	if n := c.Audit.SegmentSizeMiB; n < 1 || n > 4096 {
		ch.errorf("audit.segment_size_mib", "must be from 1 to 4096, got %d", n)
	}
	if d := c.Audit.Retention.MaxAge; d < 0 {
		ch.errorf("audit.retention.max_age", "must not be negative, got %s", d)
	}
	if n := c.Audit.Retention.MaxSizeMiB; n < 0 {
		ch.errorf("audit.retention.max_size_mib", "must not be negative, got %d", n)
	}

	switch c.Store.Driver {
	case "sqlite":
		if c.Store.SQLite.Path == "" {
			ch.errorf("store.sqlite.path", "must not be empty when store.driver is sqlite")
		}
	case "postgres":
		if c.Store.Postgres.DSN == "" {
			ch.errorAt("store.driver", "store.postgres.dsn", "required when store.driver is postgres")
		}
	}
	// A connection string is checked even while the driver is sqlite, so
	// that switching drivers later does not reveal an old mistake.
	if dsn := c.Store.Postgres.DSN; dsn != "" {
		if _, err := pgconn.ParseConfig(dsn); err != nil {
			ch.errorf("store.postgres.dsn", "invalid connection string: %s", dsnReason(err))
		}
	}
	if n := c.Store.Postgres.MaxConns; n < minConns || n > maxConns {
		ch.errorf("store.postgres.max_conns", "must be from %d to %d, got %d", minConns, maxConns, n)
	}
	ch.durations(reflect.ValueOf(c).Elem(), "")
}

// oneOf checks that the value at path is one of the words in valid.
func (ch *checker) oneOf(path, value string, valid []string) {
	if slices.Contains(valid, value) {
		return
	}
	msg := fmt.Sprintf("%q is not one of %s", clip(value), strings.Join(valid, ", "))
	if s, ok := suggest(value, valid); ok {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	ch.errorf(path, "%s", msg)
}

// durations checks that every duration in the section v is positive: each
// is a timeout or a wait, for which zero or less has no useful meaning.
// The durations in zeroDurations, where zero means "never", are checked
// by check instead.
func (ch *checker) durations(v reflect.Value, path string) {
	for _, f := range fields(v.Type()) {
		fv, p := v.Field(f.index), join(path, f.key)
		switch {
		case f.typ == durationType && zeroDurations[p]:
		case f.typ == durationType:
			if d := fv.Interface().(Duration); d <= 0 {
				ch.errorf(p, "must be greater than 0, got %s", d)
			}
		case isSection(f.typ):
			ch.durations(fv, p)
		}
	}
}

// listenProblem says what is wrong with a listen address, or "".
func listenProblem(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		if _, err := strconv.ParseUint(s, 10, 16); err == nil {
			return fmt.Sprintf("%q is not host:port (did you mean %q?)", s, ":"+s)
		}
		return fmt.Sprintf("%q is not host:port", clip(s))
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("port %q is not a number from 0 to 65535", clip(port))
	}
	return ""
}

// validNodeName reports whether s is 1 to 63 characters of [A-Za-z0-9._-]:
// short and plain enough to sit in log fields, metrics labels and host
// names unquoted.
func validNodeName(s string) bool {
	if len(s) < 1 || len(s) > 63 {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// dsnReasons maps the start of pgconn's description of a connection string
// it cannot parse to the reason given to the user.
//
// pgconn's own error text quotes the connection string with passwords
// masked on a best-effort basis, which its documentation warns can miss
// one in malformed input; its wrapped errors can quote fragments of the
// string too. So no text from pgconn reaches the user: only these fixed
// reasons, chosen by matching the description that follows the quoted
// string.
var dsnReasons = []struct{ prefix, reason string }{
	{"failed to parse as URL", "malformed URL"},
	{"failed to parse as keyword/value", "malformed keyword=value list"},
	{"failed to read service", "cannot read the service file"},
	{"invalid sslcertmode", "invalid sslcertmode"},
	{"invalid connect_timeout", "invalid connect_timeout"},
	{"could not match", "the numbers of hosts and ports differ"},
	{"invalid port", "invalid port"},
	{"failed to configure TLS", "invalid TLS settings (sslmode, sslrootcert, sslcert, sslkey)"},
	{"unknown target_session_attrs", "invalid target_session_attrs"},
	{"invalid min_protocol_version", "invalid min_protocol_version"},
	{"invalid max_protocol_version", "invalid max_protocol_version"},
	{"min_protocol_version cannot be greater", "min_protocol_version is greater than max_protocol_version"},
	{"unknown channel_binding", "invalid channel_binding"},
	{"invalid require_auth", "invalid require_auth"},
}

// dsnReason explains err, from pgconn.ParseConfig, without quoting any of
// the connection string.
func dsnReason(err error) string {
	const generic = "cannot be parsed"
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return generic
	}
	// Error is "cannot parse `<masked string>`: <description>"; an error
	// with an empty description yields exactly the part to cut off.
	prefix := pgconn.NewParseConfigError(pce.ConnString, "", nil).Error()
	desc, ok := strings.CutPrefix(pce.Error(), prefix)
	if !ok {
		return generic
	}
	for _, r := range dsnReasons {
		if strings.HasPrefix(desc, r.prefix) {
			return r.reason
		}
	}
	return generic
}
