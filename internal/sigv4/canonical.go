package sigv4

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	if path == "" {
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
	if len(lower) <= len(buf) {
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
	for k, vs := range h {
		if strings.EqualFold(k, lower) {
			return vs
		}
	}
	return nil
}

// appendTrimmed writes a header value trimmed, with runs of whitespace
// (including folded line breaks) collapsed to one space.
func appendTrimmed(dst []byte, v string) []byte {
	space := false
	wrote := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space && wrote {
			dst = append(dst, ' ')
		}
		space = false
		wrote = true
		dst = append(dst, c)
	}
	return dst
}

// appendCanonicalHeaders writes "name:value\n" for each signed header, in
// the order the client listed them. It reports whether host was signed.
func appendCanonicalHeaders(dst []byte, r *http.Request, signed string) ([]byte, bool) {
	hostSigned := false
	for rest := signed; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		dst = append(dst, name...)
		dst = append(dst, ':')
		if strings.EqualFold(name, "host") {
			hostSigned = true
			host := r.Host
			if host == "" && r.URL != nil {
				host = r.URL.Host
			}
			dst = appendTrimmed(dst, host)
			dst = append(dst, '\n')
			continue
		}
		vs := headerValues(r.Header, name)
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
