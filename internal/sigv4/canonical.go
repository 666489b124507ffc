package sigv4

import (
	"bytes"
	"math/bits"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

const upperhex = "0123456789ABCDEF"

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// appendEscaped percent-encodes every byte except the unreserved ones (and
// '/' when keepSlash), as AWS's UriEncode does.
func appendEscaped(dst []byte, s string, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperhex[c>>4], upperhex[c&15])
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendReescaped decodes s (percent escapes, and '+' as space when plus)
// and encodes the result the AWS way in one pass. A '%' not followed by two
// hex digits stands for itself, as lenient signers treat it.
func appendReescaped(dst []byte, s string, plus, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s):
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				c = hi<<4 | lo
				i += 2
			}
		case c == '+' && plus:
			c = ' '
		}
		if unreserved(c) || keepSlash && c == '/' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperhex[c>>4], upperhex[c&15])
	}
	return dst
}

// rawPath returns the request path as the client sent it: the signer saw
// those bytes, not Go's decoded form.
func rawPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if r.URL == nil {
		return "/"
	}
	return r.URL.EscapedPath()
}

// appendCanonicalURI writes the canonical URI. For most services the path
// as sent is normalised (dot segments removed, empty segments collapsed) and
// encoded again, so "%3D" becomes "%253D"; with s3 set the path is neither
// normalised nor double encoded, as S3 signs it.
func appendCanonicalURI(dst []byte, path string, s3 bool) []byte {
	if path == "" || path == "/" {
		// Both ways give "/" for the root, which most API calls use.
		return append(dst, '/')
	}
	if s3 {
		return appendReescaped(dst, path, false, true)
	}
	// Remove dot segments into a fixed stack, falling back to the heap
	// only for unusually deep paths.
	var stackBuf [32]string
	segs := stackBuf[:0]
	for rest := path; rest != ""; {
		var seg string
		seg, rest, _ = strings.Cut(rest, "/")
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	// As in RFC 3986 dot-segment removal, a path ending in "/", "/." or
	// "/.." names a directory and keeps its trailing slash.
	trailing := strings.HasSuffix(path, "/") || strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "/..")
	if len(segs) == 0 {
		return append(dst, '/')
	}
	for _, s := range segs {
		dst = append(dst, '/')
		dst = appendEscaped(dst, s, false)
	}
	if trailing {
		dst = append(dst, '/')
	}
	return dst
}

// qpair locates one encoded query parameter in a scratch buffer.
type qpair struct{ k0, k1, v0, v1 int }

// appendCanonicalQuery writes the canonical query string: every parameter
// decoded, re-encoded, sorted by key then value. skip names one parameter
// (already in canonical encoding) to leave out, such as X-Amz-Signature in
// presigned requests.
func (s *scratch) appendCanonicalQuery(dst []byte, raw string, skip1, skip2 string) []byte {
	if raw == "" {
		return dst
	}
	s.enc = s.enc[:0]
	s.pairs = s.pairs[:0]
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		var p qpair
		p.k0 = len(s.enc)
		s.enc = appendReescaped(s.enc, k, true, false)
		p.k1 = len(s.enc)
		key := s.enc[p.k0:p.k1]
		if skip1 != "" && string(key) == skip1 || skip2 != "" && string(key) == skip2 {
			s.enc = s.enc[:p.k0]
			continue
		}
		p.v0 = p.k1
		s.enc = appendReescaped(s.enc, v, true, false)
		p.v1 = len(s.enc)
		s.pairs = append(s.pairs, p)
	}
	enc := s.enc
	slices.SortFunc(s.pairs, func(a, b qpair) int {
		if c := bytes.Compare(enc[a.k0:a.k1], enc[b.k0:b.k1]); c != 0 {
			return c
		}
		return bytes.Compare(enc[a.v0:a.v1], enc[b.v0:b.v1])
	})
	for i, p := range s.pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, enc[p.k0:p.k1]...)
		dst = append(dst, '=')
		dst = append(dst, enc[p.v0:p.v1]...)
	}
	return dst
}

// headerValues finds a header by lower-case name without allocating: it
// tries the canonical MIME form first (what net/http stores), then any
// spelling.
func headerValues(h http.Header, lower string) []string {
	var buf [64]byte
	known := knownHeaderKey(lower)
	if known != "" {
		if vs, ok := h[known]; ok {
			return vs
		}
	} else if len(lower) <= len(buf) {
		b := buf[:len(lower)]
		upper := true
		for i := 0; i < len(lower); i++ {
			c := lower[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b[i] = c
			upper = c == '-'
		}
		if vs, ok := h[string(b)]; ok {
			return vs
		}
	}
	// Any other spelling. An ASCII name of n bytes folds only to keys of n
	// or more bytes (each of the n runes takes at least one), so shorter
	// keys are passed over without strings.EqualFold.
	minLen := 0
	if known != "" || isASCII(lower) {
		minLen = len(lower)
	}
	for k, vs := range h {
		if len(k) >= minLen && strings.EqualFold(k, lower) {
			return vs
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// knownHeaderKey returns the canonical form of a header name that SDKs
// commonly sign, as headerValues would build it, or "" for any other name.
func knownHeaderKey(lower string) string {
	switch lower {
	case "content-type":
		return "Content-Type"
	case "content-length":
		return "Content-Length"
	case "content-md5":
		return "Content-Md5"
	case "content-encoding":
		return "Content-Encoding"
	case "date":
		return "Date"
	case "x-amz-date":
		return "X-Amz-Date"
	case "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "x-amz-security-token":
		return "X-Amz-Security-Token"
	case "x-amz-decoded-content-length":
		return "X-Amz-Decoded-Content-Length"
	case "x-amz-region-set":
		return "X-Amz-Region-Set"
	case "x-amz-target":
		return "X-Amz-Target"
	case "x-amz-user-agent":
		return "X-Amz-User-Agent"
	case "amz-sdk-invocation-id":
		return "Amz-Sdk-Invocation-Id"
	case "amz-sdk-request":
		return "Amz-Sdk-Request"
	}
	return ""
}

// appendTrimmed writes a header value trimmed, with runs of whitespace
// (including folded line breaks) collapsed to one space. It copies each
// word whole, finding its end eight bytes at a time: values are mostly
// one or two long words, and byte by byte this was 6% of a verification.
func appendTrimmed(dst []byte, v string) []byte {
	i := 0
	for {
		for i < len(v) && isHeaderSpace(v[i]) {
			i++
		}
		if i == len(v) {
			return dst
		}
		// The word ends at the next whitespace; control bytes below ' '
		// that are not whitespace belong to it.
		j := i
		for {
			j = indexControlOrSpace(v, j)
			if j == len(v) || isHeaderSpace(v[j]) {
				break
			}
			j++
		}
		dst = append(dst, v[i:j]...)
		// Whitespace follows: one space, kept only if a word follows it.
		for j < len(v) && isHeaderSpace(v[j]) {
			j++
		}
		if j == len(v) {
			return dst
		}
		dst = append(dst, ' ')
		i = j
	}
}

func isHeaderSpace(c byte) bool {
	return c <= ' ' && (c == ' ' || c == '\t' || c == '\r' || c == '\n')
}

// indexControlOrSpace returns the index of the first byte at or after i
// that is ' ' or below, or len(v).
func indexControlOrSpace(v string, i int) int {
	for ; i+8 <= len(v); i += 8 {
		w := v[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// The high bit of each byte below 0x21: the subtraction borrows
		// into it, and the byte's own high bit was clear. A borrow can flag
		// a later byte falsely, never an earlier one, so the lowest flag is
		// the first such byte.
		if m := (x - 0x2121212121212121) &^ x & 0x8080808080808080; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(v) && v[i] > ' '; i++ {
	}
	return i
}

// knownValues holds the values of headers that requests usually sign,
// found while reading the request: what headerValues would return for
// x-amz-date and content-type when their canonical keys are present.
type knownValues struct {
	amzDate, contentType       []string
	amzDateKey, contentTypeKey bool
}

// appendCanonicalHeaders writes "name:value\n" for each signed header, in
// the order the client listed them. It reports whether host was signed.
func appendCanonicalHeaders(dst []byte, r *http.Request, names []string, known *knownValues) ([]byte, bool) {
	hostSigned := false
	for _, name := range names {
		dst = append(dst, name...)
		dst = append(dst, ':')
		// Only a name of four or five bytes folds to "host": its letters'
		// only other forms are their capitals and, for s, the two-byte
		// LONG S (TestHostFoldLengths).
		if name == "host" || (len(name) == 4 || len(name) == 5) && strings.EqualFold(name, "host") {
			hostSigned = true
			host := r.Host
			if host == "" && r.URL != nil {
				host = r.URL.Host
			}
			dst = appendTrimmed(dst, host)
			dst = append(dst, '\n')
			continue
		}
		var vs []string
		switch {
		case name == "x-amz-date" && known.amzDateKey:
			vs = known.amzDate
		case name == "content-type" && known.contentTypeKey:
			vs = known.contentType
		default:
			vs = headerValues(r.Header, name)
		}
		if len(vs) == 0 && strings.EqualFold(name, "content-length") && r.ContentLength >= 0 {
			dst = strconv.AppendInt(dst, r.ContentLength, 10)
		}
		for i, v := range vs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendTrimmed(dst, v)
		}
		dst = append(dst, '\n')
	}
	return dst, hostSigned
}
