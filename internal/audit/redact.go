package audit

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// Redacted replaces every secret value in a record.
const Redacted = "REDACTED"

// secretWords are parts of parameter names that hold secrets. A name is
// compared in lower case with '-', '_', '.' and spaces removed, so
// "X-Amz-Security-Token", "client_secret" and "SecretAccessKey" all match.
// Redacting a value that was not secret costs a little detail; missing
// one that was costs the secret, so the words are broad.
var secretWords = [][]byte{
	[]byte("secret"), // secretAccessKey, clientSecret, client_secret
	[]byte("password"), []byte("passwd"), []byte("passphrase"), []byte("passcode"),
	[]byte("token"), // sessionToken, X-Amz-Security-Token, id_token, refresh_token
	[]byte("privatekey"),
	[]byte("cookie"), // Cookie, Set-Cookie
	[]byte("authorization"),
	[]byte("apikey"),
	[]byte("signature"), // a SigV4 signature is replayable while its date is fresh
	[]byte("credential"),
}

// secretNames are whole parameter names, compared as secretWords are,
// that hold secrets but are too short to look for inside other names.
var secretNames = []string{
	"code", // an OAuth 2.0 authorization code
	"otp", "totp", "pin",
}

// nonSecretNames name values that contain a secret word but are not
// secret, and are needed to trace what happened.
var nonSecretNames = []string{
	"tokentype", "tokenexpiry", "tokenexpiration",
}

// containerNames name objects that hold secrets beside facts worth
// keeping, such as STS's "credentials" (accessKeyId and expiration beside
// secretAccessKey and sessionToken): when such a value is an object, its
// members are redacted one by one instead of all of it.
var containerNames = []string{"credentials"}

// IsSecretName reports whether a parameter named name holds a secret and
// is redacted.
func IsSecretName(name string) bool {
	var buf [64]byte
	n := normalizeName(buf[:0], name)
	for _, s := range nonSecretNames {
		if string(n) == s {
			return false
		}
	}
	for _, s := range secretNames {
		if string(n) == s {
			return true
		}
	}
	for _, w := range secretWords {
		if bytes.Contains(n, w) {
			return true
		}
	}
	return false
}

// normalizeName appends name to dst in lower case without '-', '_', '.'
// and spaces. Callers pass a small array's slice, so that short names need
// no allocation.
func normalizeName(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '_' || c == '.' || c == ' ':
		case c >= 'A' && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Redact returns a copy of a record's free-form parameters with every
// secret replaced by [Redacted]: the value of every key that names a
// secret ([IsSecretName]), at any depth, and values that are secrets
// whatever their key (a PEM private key, an HTTP Authorization value, a
// URL or query string carrying a signature or token). m itself is not
// changed: the caller may still need the secret, to return it to its
// client. Values of types other than JSON's are converted through their
// JSON encoding first, so that a struct's secret fields are found too.
// When nothing in m needs redacting and its values are strings, booleans
// and numbers (a gateway decision's host and path), m itself is returned,
// not a copy: the result is for reading.
func Redact(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	if clean(m) {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !IsSecretName(k) {
			out[k] = redactValue(v)
			continue
		}
		if isContainerName(k) {
			if obj, ok := redactValue(v).(map[string]any); ok {
				out[k] = obj
				continue
			}
		}
		out[k] = redactedValue(v)
	}
	return out
}

// clean reports whether Redact would copy m unchanged: no key names a
// secret, and every value is a string Redact keeps as it is, a boolean, a
// number or null.
func clean(m map[string]any) bool {
	for k, v := range m {
		if IsSecretName(k) {
			return false
		}
		switch v := v.(type) {
		case nil, bool, float64, int, int64:
		case string:
			if redactString(v) != v {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func isContainerName(k string) bool {
	var buf [64]byte
	n := normalizeName(buf[:0], k)
	for _, c := range containerNames {
		if string(n) == c {
			return true
		}
	}
	return false
}

// redactedValue is what replaces a secret: the text REDACTED, or nothing
// for an empty value, so that "no password was given" stays visible.
func redactedValue(v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		if v == "" {
			return ""
		}
	}
	return Redacted
}

func redactValue(v any) any {
	switch v := v.(type) {
	case nil, bool, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return v
	case string:
		return redactString(v)
	case map[string]any:
		return Redact(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactValue(e)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if IsSecretName(k) {
				out[k] = redactedValue(e)
			} else {
				out[k] = redactString(e)
			}
		}
		return out
	case map[string][]string: // http.Header, url.Values
		out := make(map[string]any, len(v))
		for k, e := range v {
			if IsSecretName(k) {
				out[k] = Redacted
				continue
			}
			l := make([]any, len(e))
			for i, s := range e {
				l[i] = redactString(s)
			}
			out[k] = l
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = redactString(s)
		}
		return out
	}
	// Anything else (a struct, a typed map or slice) goes through its JSON
	// encoding, so that its secret fields are found by name.
	b, err := json.Marshal(v)
	if err != nil {
		return Redacted // what cannot be inspected is not written
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return Redacted
	}
	return redactValue(generic)
}

// redactString catches secrets that travel in values rather than under a
// secret's name.
func redactString(s string) string {
	switch {
	case strings.Contains(s, "PRIVATE KEY-----"):
		return Redacted
	case hasAuthScheme(s):
		return Redacted
	case strings.ContainsRune(s, '='):
		return redactQuery(s)
	}
	return s
}

// hasAuthScheme reports whether s is an HTTP Authorization value.
func hasAuthScheme(s string) bool {
	for _, p := range []string{"Bearer ", "Basic ", "AWS4-HMAC-SHA256 ", "Digest ", "Negotiate "} {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

// redactQuery replaces the values of secret-named parameters in a query
// string, or in the query of a URL or path: "/x?X-Amz-Signature=ab&y=1"
// becomes "/x?X-Amz-Signature=REDACTED&y=1".
func redactQuery(s string) string {
	start := strings.IndexByte(s, '?') + 1 // 0 when s is a bare query
	end := len(s)
	if i := strings.IndexByte(s[start:], '#'); i >= 0 {
		end = start + i
	}
	parts := strings.Split(s[start:end], "&")
	changed := false
	for i, part := range parts {
		name, _, hasValue := strings.Cut(part, "=")
		if !hasValue {
			continue
		}
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if IsSecretName(name) {
			parts[i] = part[:strings.IndexByte(part, '=')+1] + Redacted
			changed = true
		}
	}
	if !changed {
		return s
	}
	return s[:start] + strings.Join(parts, "&") + s[end:]
}
