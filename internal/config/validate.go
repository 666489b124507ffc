package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ztgate/ztgate/internal/policy"
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
	// pos is where the value at each key path was written; nil when the
	// configuration did not come from a file.
	pos  map[string]position
	skip map[string]bool // key paths that already failed to decode
	errs []*Error
}

func (ch *checker) errorf(path, format string, args ...any) {
	ch.errorAt(path, path, format, args...)
}

// errorAt reports a problem with the value at path, placed where the value
// at posPath was written.
func (ch *checker) errorAt(posPath, path, format string, args ...any) {
	if ch.skipped(path) {
		return
	}
	e := &Error{File: ch.file, Path: path, Msg: fmt.Sprintf(format, args...), Kind: ErrValue}
	if ch.pos != nil {
		e.Line, e.Column = ch.at(posPath)
	}
	ch.errs = append(ch.errs, e)
}

// at returns where the value at path was written or, when it was left out,
// where the nearest mapping or sequence around it was: a required key
// missing from the third role is reported at that role. A value from a
// top-level default is placed at the start of the document.
func (ch *checker) at(path string) (line, col int) {
	for ; path != ""; path = parent(path) {
		if p, ok := ch.pos[path]; ok {
			return p.line, p.col
		}
	}
	return 1, 1
}

// written reports whether the file set the value at path.
func (ch *checker) written(path string) bool {
	_, ok := ch.pos[path]
	return ok
}

// skipped reports whether the value at path, or a mapping or sequence
// holding it, failed to decode: what is left there is a default or a
// blank element, and its problems are not the user's.
func (ch *checker) skipped(path string) bool {
	for ; path != ""; path = parent(path) {
		if ch.skip[path] {
			return true
		}
	}
	return false
}

// Accepted values of the keys that take one of a few words.
var (
	logLevels    = []string{"debug", "info", "warn", "error"}
	logFormats   = []string{"auto", "text", "json"}
	storeDrivers = []string{"sqlite", "postgres"}
)

var auditModes = []string{"sync", "async"}

// rangedDurations are the durations that check bounds itself, rather than
// durations requiring them positive: those for which 0 is meaningful and
// those with bounds of their own. Keys in the elements of a sequence are
// named as in the reference, with [].
var rangedDurations = map[string]bool{
	"audit.retention.max_age":          true,
	"sts.max_clock_skew":               true,
	"iam.roles[].max_session_duration": true,
	"gateway.assertion_ttl":            true,
	"gateway.routes[].max_session_age": true,
	"gateway.sessions.idle_timeout":    true,
	"gateway.sessions.max_lifetime":    true,
	"ca.svid_ttl":                      true,
	"ca.max_ttl":                       true,
	"devices.cert_ttl":                 true,
	"devices.token_ttl":                true,
	"devices.max_posture_age":          true,
}

// Bounds of store.postgres.max_conns.
const (
	minConns = 1
	maxConns = 1000
)

// Bounds of the other durations with bounds.
const (
	minSession = time.Hour // iam.roles[].max_session_duration, as AWS's
	maxSession = 12 * time.Hour
	minSkew    = time.Second // sts.max_clock_skew
	maxSkew    = time.Hour
)

// AWS's rules for IAM names, paths, tags and descriptions, as
// internal/iam applies them: a file breaking one would load, then fail
// when ztgate applies it, far from the line at fault.
var (
	shortName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)  // users and roles
	longName  = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`) // groups and policies
	iamPath   = regexp.MustCompile(`^/([\x21-\x7E]{0,510}/)?$`)
	tagKey    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
	tagValue  = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`)
)

const (
	maxTags        = 50
	maxDescription = 1000 // characters
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
	ch.iam(&c.IAM)
	ch.sts(&c.STS)
	ch.gateway(&c.Gateway)
	ch.ca(&c.CA)
	ch.inRange("devices.cert_ttl", c.Devices.CertTTL, time.Hour, max(time.Hour, c.CA.MaxTTL.D()))
	ch.inRange("devices.token_ttl", c.Devices.TokenTTL, time.Minute, 30*24*time.Hour)
	ch.inRange("devices.max_posture_age", c.Devices.MaxPostureAge, time.Minute, 30*24*time.Hour)
	v := reflect.ValueOf(c).Elem()
	ch.required(v, "")
	ch.durations(v, "", "")
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

// durations checks that every duration in the section v at path is
// positive: each is a timeout or a wait, for which zero or less has no
// useful meaning. The durations in rangedDurations are checked by check
// instead. key is path with the indexes of elements left out, as
// rangedDurations names keys.
func (ch *checker) durations(v reflect.Value, path, key string) {
	for _, f := range fields(v.Type()) {
		fv, p, k := v.Field(f.index), join(path, f.key), join(key, f.key)
		switch {
		case f.typ == durationType && rangedDurations[k]:
		case f.typ == durationType:
			if d := fv.Interface().(Duration); d <= 0 {
				ch.errorf(p, "must be greater than 0, got %s", d)
			}
		case isSection(f.typ):
			ch.durations(fv, p, k)
		case isTable(f.typ):
			for i := range fv.Len() {
				ch.durations(fv.Index(i), index(p, i), k+"[]")
			}
		}
	}
}

// required checks that every key tagged required, in the section v at path
// and below, holds a string or list that is not empty.
func (ch *checker) required(v reflect.Value, path string) {
	for _, f := range fields(v.Type()) {
		fv, p := v.Field(f.index), join(path, f.key)
		switch {
		case f.required && fv.Len() == 0:
			if ch.written(p) {
				ch.errorf(p, "must not be empty")
			} else {
				ch.errorf(p, "required")
			}
		case isSection(f.typ):
			ch.required(fv, p)
		case isTable(f.typ):
			for i := range fv.Len() {
				ch.required(fv.Index(i), index(p, i))
			}
		}
	}
}

// inRange checks that the duration at path is from lo to hi.
func (ch *checker) inRange(path string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		ch.errorf(path, "must be from %s to %s, got %s", short(lo), short(hi), short(d.D()))
	}
}

// short formats d without the zero minutes and seconds that
// time.Duration.String writes after hours: "12h" rather than "12h0m0s".
func short(d time.Duration) string {
	s := strings.TrimSuffix(d.String(), "m0s")
	if len(s) < len(d.String()) {
		s += "m" // "5m0s" is "5m", "1h0m0s" is "1h0m" so far
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (ch *checker) iam(c *IAM) {
	if !validAccount(c.Account) {
		ch.errorf("iam.account", "%q must be exactly 12 digits", clip(c.Account))
	}

	policies := make([]string, len(c.Policies))
	for i, p := range c.Policies {
		path := index("iam.policies", i)
		policies[i] = p.Name
		ch.path(path+".path", p.Path)
		ch.description(path+".description", p.Description)
		ch.document(path+".document", p.Document)
	}
	policiesDeclared := ch.names("iam.policies", policies, longName, 128)

	groups := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		path := index("iam.groups", i)
		groups[i] = g.Name
		ch.path(path+".path", g.Path)
		ch.inline(path+".policies", g.Policies)
		ch.managed(path+".managed_policies", g.ManagedPolicies, policiesDeclared)
	}
	groupsDeclared := ch.names("iam.groups", groups, longName, 128)

	users := make([]string, len(c.Users))
	for i, u := range c.Users {
		path := index("iam.users", i)
		users[i] = u.Name
		ch.path(path+".path", u.Path)
		ch.refs(path+".groups", u.Groups, func(p, name string) {
			ch.reference(p, name, "a group in iam.groups", groupsDeclared, false)
		})
		ch.tags(path+".tags", u.Tags)
		ch.inline(path+".policies", u.Policies)
		ch.managed(path+".managed_policies", u.ManagedPolicies, policiesDeclared)
		if u.PermissionsBoundary != "" {
			ch.reference(path+".permissions_boundary", u.PermissionsBoundary, "a policy in iam.policies", policiesDeclared, true)
		}
	}
	ch.names("iam.users", users, shortName, 64)

	roles := make([]string, len(c.Roles))
	for i, r := range c.Roles {
		path := index("iam.roles", i)
		roles[i] = r.Name
		ch.path(path+".path", r.Path)
		ch.description(path+".description", r.Description)
		ch.policyOf(path+".trust_policy", r.TrustPolicy, policy.Trust)
		ch.inRange(path+".max_session_duration", r.MaxSessionDuration, minSession, maxSession)
		ch.tags(path+".tags", r.Tags)
		ch.inline(path+".policies", r.Policies)
		ch.managed(path+".managed_policies", r.ManagedPolicies, policiesDeclared)
		if r.PermissionsBoundary != "" {
			ch.reference(path+".permissions_boundary", r.PermissionsBoundary, "a policy in iam.policies", policiesDeclared, true)
		}
	}
	ch.names("iam.roles", roles, shortName, 64)
}

// declared is the names in one list of iam, for references to check.
type declared struct {
	names []string
	// complete is false when the list, or the name of one of its
	// elements, could not be read from the file: a name not found may be
	// that one, and reporting it would only echo the first error.
	complete bool
}

// names checks the names of the elements of the list at path, in order:
// each matches re, which allows 1 to maxLen characters, and no two are
// equal ignoring case, since AWS does not tell IAM names apart by case. It
// returns them for references to check.
func (ch *checker) names(path string, names []string, re *regexp.Regexp, maxLen int) declared {
	d := declared{names: names, complete: !ch.skipped(path)}
	first := make(map[string]int, len(names))
	for i, name := range names {
		p := index(path, i) + ".name"
		if ch.skipped(p) {
			d.complete = false
			continue
		}
		if name == "" {
			continue // required reports it
		}
		if !re.MatchString(name) {
			ch.errorf(p, "%q must be 1 to %d letters, digits and +=,.@_-", clip(name), maxLen)
			continue
		}
		key := strings.ToLower(name)
		j, dup := first[key]
		if !dup {
			first[key] = i
			continue
		}
		other := index(path, j)
		if names[j] == name {
			ch.errorf(p, "name %q is already used by %s", clip(name), other)
		} else {
			ch.errorf(p, "name %q is already used by %s, as %q (names are compared without case)", clip(name), other, clip(names[j]))
		}
	}
	return d
}

// refs calls check on each entry of the list of names at path, after
// reporting an entry given twice.
func (ch *checker) refs(path string, list []string, check func(path, name string)) {
	first := make(map[string]int, len(list))
	for i, name := range list {
		p := index(path, i)
		if name == "" {
			ch.errorf(p, "must not be empty")
			continue
		}
		if j, dup := first[name]; dup {
			ch.errorf(p, "%q is already listed at %s", clip(name), index(path, j))
			continue
		}
		first[name] = i
		check(p, name)
	}
}

// reference checks that the value at path is the name of an element of
// d, described by what, or, when arnOK, an ARN.
func (ch *checker) reference(path, name, what string, d declared, arnOK bool) {
	if slices.Contains(d.names, name) || arnOK && strings.HasPrefix(name, "arn:") || !d.complete {
		return
	}
	msg := fmt.Sprintf("%q is not the name of %s", clip(name), what)
	if arnOK {
		msg += " or an ARN"
	}
	if s, ok := suggest(name, d.names); ok {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	ch.errorf(path, "%s", msg)
}

// managed checks a list of managed policies: names of declared policies,
// or ARNs.
func (ch *checker) managed(path string, list []string, policies declared) {
	ch.refs(path, list, func(p, name string) {
		ch.reference(p, name, "a policy in iam.policies", policies, true)
	})
}

// inline checks the inline policies of one group, user or role.
func (ch *checker) inline(path string, ps []InlinePolicy) {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
		ch.document(index(path, i)+".document", p.Document)
	}
	ch.names(path, names, longName, 128)
}

// path checks an IAM path.
func (ch *checker) path(path, p string) {
	if !iamPath.MatchString(p) {
		ch.errorf(path, "%q must begin and end with / and hold at most 512 printable ASCII characters, without spaces", clip(p))
	}
}

func (ch *checker) description(path, s string) {
	if n := utf8.RuneCountInString(s); n > maxDescription {
		ch.errorf(path, "must be at most %d characters, got %d", maxDescription, n)
	}
}

// document checks that a policy document is a JSON object. Whether an IAM
// document is a policy is for the policy package to say when the
// configuration is applied (a start refuses one that is not); a mistake
// in the JSON is worth reporting here, at its line.
func (ch *checker) document(path, doc string) {
	ch.policyOf(path, doc, policy.Identity)
}

// policyOf checks a declared policy document as ztgate will apply it,
// with AWS's wording, so that "config validate" refuses what the node
// would refuse at start.
func (ch *checker) policyOf(path, doc string, kind policy.Kind) {
	if doc == "" {
		return // required reports it
	}
	if reason := documentProblem(doc); reason != "" {
		ch.errorf(path, "%s", reason)
		return
	}
	if _, errs := policy.CheckEvaluable([]byte(doc), kind); len(errs) > 0 {
		for _, e := range errs {
			ch.errorf(path, "%s", e.Error())
		}
	}
}

// resourcePolicy checks a route's policy as the gateway will enforce it,
// with AWS's wording: one that is not a valid resource policy (without a
// Principal, say) is refused here rather than enforced as a deny-all.
func (ch *checker) resourcePolicy(path, doc string) {
	if reason := documentProblem(doc); reason != "" {
		ch.errorf(path, "%s", reason)
		return
	}
	if _, errs := policy.CheckEvaluable([]byte(doc), policy.Resource); len(errs) > 0 {
		for _, e := range errs {
			ch.errorf(path, "%s", e.Error())
		}
	}
}

// documentProblem says what keeps doc from being a JSON object, or "".
func documentProblem(doc string) string {
	var obj map[string]json.RawMessage
	err := json.Unmarshal([]byte(doc), &obj)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bytes read, the one at fault included.
		line, col := lineCol(doc, int(syn.Offset)-1)
		return fmt.Sprintf("invalid JSON at line %d, column %d of the document: %s", line, col, syn)
	case errors.As(err, &typ):
		return "must be a JSON object ({...}), got a JSON " + typ.Value
	case err != nil:
		return "invalid JSON"
	case obj == nil:
		return "must be a JSON object ({...}), got null"
	}
	return ""
}

// lineCol returns the 1-based line and column of the byte at offset off
// in s, the column counted in bytes.
func lineCol(s string, off int) (line, col int) {
	before := s[:min(max(off, 0), len(s))]
	return strings.Count(before, "\n") + 1, len(before) - strings.LastIndexByte(before, '\n')
}

// tags checks the tags of a user or role.
func (ch *checker) tags(path string, tags []Tag) {
	if len(tags) > maxTags {
		ch.errorf(path, "holds %d tags; at most %d are allowed", len(tags), maxTags)
	}
	first := make(map[string]int, len(tags))
	for i, t := range tags {
		p := index(path, i)
		if !tagValue.MatchString(t.Value) {
			ch.errorf(p+".value", "%q must be at most 256 letters, digits, spaces and _.:/=+-@", clip(t.Value))
		}
		if t.Key == "" {
			continue // required reports it
		}
		lower := strings.ToLower(t.Key)
		switch {
		case !tagKey.MatchString(t.Key):
			ch.errorf(p+".key", "%q must be 1 to 128 letters, digits, spaces and _.:/=+-@", clip(t.Key))
		case strings.HasPrefix(lower, "aws:"):
			ch.errorf(p+".key", "%q begins with aws:, which AWS reserves", clip(t.Key))
		}
		j, dup := first[lower]
		if !dup {
			first[lower] = i
			continue
		}
		other := index(path, j)
		if tags[j].Key == t.Key {
			ch.errorf(p+".key", "key %q is already used by %s", clip(t.Key), other)
		} else {
			ch.errorf(p+".key", "key %q is already used by %s, as %q (keys are compared without case)", clip(t.Key), other, clip(tags[j].Key))
		}
	}
}

func (ch *checker) sts(c *STS) {
	ch.inRange("sts.max_clock_skew", c.MaxClockSkew, minSkew, maxSkew)
	first := map[string]int{}
	for i, is := range c.WebIdentity.Issuers {
		p := index("sts.web_identity.issuers", i)
		if is.URL != "" {
			if reason := urlProblem(is.URL); reason != "" {
				ch.errorf(p+".url", "%s", reason)
			} else if j, dup := first[is.URL]; dup {
				ch.errorf(p+".url", "issuer is already listed at %s", index("sts.web_identity.issuers", j))
			} else {
				first[is.URL] = i
			}
		}
		if is.JWKSURL != "" {
			if reason := urlProblem(is.JWKSURL); reason != "" {
				ch.errorf(p+".jwks_url", "%s", reason)
			}
		}
		for j, aud := range is.Audiences {
			if aud == "" {
				ch.errorf(index(p+".audiences", j), "must not be empty")
			}
		}
	}
}

// urlProblem says what keeps s from being an issuer or JWKS URL, by the
// rules of internal/webidentity, or "". The reasons do not quote the URL,
// which could hold a password.
func urlProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "":
		return "must be an absolute https URL, such as https://issuer.example.com"
	case u.User != nil:
		return "must not hold a user name or password"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query (?...)"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment (#...)"
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return "must use https; http is allowed only for a loopback host (localhost, 127.0.0.1, ::1)"
	}
	return ""
}

// loopback reports whether host names this machine: plain http to it
// cannot be read on the network, and serves tests and local issuers.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// validAccount reports whether s is an AWS account ID: 12 ASCII digits.
func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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

var routeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// gateway checks the routes.
func (ch *checker) gateway(c *Gateway) {
	ch.inRange("gateway.assertion_ttl", c.AssertionTTL, 30*time.Second, time.Hour)
	ch.gatewayTLS(&c.TLS)
	ch.inRange("gateway.sessions.idle_timeout", c.Sessions.IdleTimeout, time.Minute, 30*24*time.Hour)
	ch.inRange("gateway.sessions.max_lifetime", c.Sessions.MaxLifetime, time.Minute, 365*24*time.Hour)
	idps := map[string]int{}
	for i, p := range c.Providers {
		at := index("gateway.identity_providers", i)
		if p.Name != "" {
			if !routeName.MatchString(p.Name) {
				ch.errorf(at+".name", "%q must be 1 to 64 letters, digits and _.-", clip(p.Name))
			} else if j, dup := idps[p.Name]; dup {
				ch.errorf(at+".name", "name %q is already used by %s", p.Name, index("gateway.identity_providers", j))
			} else {
				idps[p.Name] = i
			}
		}
		if p.Issuer != "" {
			if reason := urlProblem(p.Issuer); reason != "" {
				ch.errorf(at+".issuer", "%s", reason)
			}
		}
	}
	if _, err := c.Proxies(); err != nil {
		ch.errorf("gateway.trusted_proxies", "%v", err)
	}
	names := map[string]int{}
	places := map[string]int{}
	for i, r := range c.Routes {
		p := index("gateway.routes", i)
		if r.Name != "" {
			if !routeName.MatchString(r.Name) {
				ch.errorf(p+".name", "%q must be 1 to 64 letters, digits and _.-", clip(r.Name))
			} else if j, dup := names[r.Name]; dup {
				ch.errorf(p+".name", "name %q is already used by %s", r.Name, index("gateway.routes", j))
			} else {
				names[r.Name] = i
			}
		}
		if r.Host != "" {
			h := strings.TrimPrefix(r.Host, "*.")
			if strings.ContainsAny(h, ":/ *") || h != strings.ToLower(h) {
				ch.errorf(p+".host", "%q must be a lowercase host name without port, optionally starting with *.", clip(r.Host))
			}
		}
		if r.PathPrefix != "" && !strings.HasPrefix(r.PathPrefix, "/") {
			ch.errorf(p+".path_prefix", "must begin with /")
		}
		key := strings.ToLower(r.Host) + " " + strings.TrimSuffix(r.PathPrefix, "/")
		if j, dup := places[key]; dup {
			ch.errorf(p+".path_prefix", "host and path prefix are already those of %s", index("gateway.routes", j))
		} else {
			places[key] = i
		}
		for j, u := range r.Upstreams {
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil {
				ch.errorf(index(p+".upstreams", j), "must be an absolute http or https URL without user information")
			}
		}
		for j, a := range r.Auth {
			ch.oneOf(index(p+".auth", j), a, []string{"session", "sigv4", "jwt", "mtls"})
		}
		if r.Policy != "" {
			ch.resourcePolicy(p+".policy", r.Policy)
		}
		if r.MaxSessionAge < 0 {
			ch.errorf(p+".max_session_age", "must not be negative, got %s", r.MaxSessionAge)
		}
		if (r.UpstreamCert == "") != (r.UpstreamKey == "") {
			ch.errorf(p+".upstream_cert_file", "upstream_cert_file and upstream_key_file go together")
		}
	}
}

// ca checks the certificate authority's settings.
func (ch *checker) ca(c *CA) {
	if p := trustDomainProblem(c.TrustDomain); p != "" {
		ch.errorf("ca.trust_domain", "%s", p)
	}
	ch.inRange("ca.max_ttl", c.MaxTTL, time.Minute, 365*24*time.Hour)
	ch.inRange("ca.svid_ttl", c.SVIDTTL, time.Minute, max(time.Minute, c.MaxTTL.D()))
	if (c.ImportCert == "") != (c.ImportKey == "") {
		ch.errorf("ca.import_cert_file", "import_cert_file and import_key_file go together")
	}
}

// trustDomainProblem says what is wrong with a SPIFFE trust domain name,
// or "".
func trustDomainProblem(s string) string {
	if s == "" || len(s) > 255 {
		return "must be 1 to 255 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '-' && c != '_' {
			return fmt.Sprintf("%q may hold only lowercase letters, digits, dots, hyphens and underscores", clip(s))
		}
	}
	return ""
}

// gatewayTLS checks the TLS listener.
func (ch *checker) gatewayTLS(c *GatewayTLS) {
	if c.Listen != "" {
		if p := listenProblem(c.Listen); p != "" {
			ch.errorf("gateway.tls.listen", "%s", p)
		}
	}
	for _, n := range c.NameList() {
		if net.ParseIP(n) == nil && (n == "" || strings.ContainsAny(n, ":/ @*") || n != strings.ToLower(n)) {
			ch.errorf("gateway.tls.names", "%q must be a lowercase DNS name or an IP address", clip(n))
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		ch.errorf("gateway.tls.cert_file", "cert_file and key_file go together")
	}
}

// NameList is Names split at commas, spaces trimmed, empty ones dropped.
func (c *GatewayTLS) NameList() []string {
	var out []string
	for _, n := range strings.Split(c.Names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Proxies parses TrustedProxies; a bare address is a one-address prefix.
func (c *Gateway) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if pre, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pre.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR prefix", clip(p))
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
