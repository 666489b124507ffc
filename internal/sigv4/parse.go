package sigv4

import (
	"strings"
)

// Algorithm names as they appear on the wire.
const (
	AlgorithmV4  = "AWS4-HMAC-SHA256"
	AlgorithmV4A = "AWS4-ECDSA-P256-SHA256"

	terminator = "aws4_request"
)

// authorization is a parsed Authorization header or presigned query. Its
// strings are substrings of the request's own, so parsing allocates nothing.
type authorization struct {
	algorithm     string
	credential    string
	accessKeyID   string
	date          string // YYYYMMDD from the credential scope
	region        string // empty for SigV4a
	service       string
	signedHeaders string
	signature     string
}

// parseAuthorization parses an Authorization header value the way AWS
// does: "ALG Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex", with optional spaces after commas.
// hasDate says whether the request carries X-Amz-Date or Date, whose
// absence AWS reports in the same message as missing parameters.
func parseAuthorization(h string, hasDate bool) (authorization, *Error) {
	var a authorization
	e := a.parse(h, hasDate)
	return a, e
}

// parse is parseAuthorization filling a in place, which spares Verify
// copying the sixteen-word result out and in again.
func (a *authorization) parse(h string, hasDate bool) *Error {
	alg, rest, _ := cutByte(trimLeftSpaces(h), ' ')
	switch alg {
	case AlgorithmV4, AlgorithmV4A:
		a.algorithm = alg
	default:
		if strings.ContainsRune(alg, '=') {
			// Not an algorithm but a parameter, perhaps the signature:
			// answer as for a missing algorithm, echoing it redacted.
			return errIncomplete("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=" + redactAuthorization(h))
		}
		if len(alg) > 64 {
			alg = alg[:64] + "..."
		}
		return errIncomplete("Unsupported AWS 'algorithm': '" + alg + "'")
	}
	for rest != "" {
		var p string
		p, rest, _ = cutByte(rest, ',')
		p = trimRightSpaces(trimLeftSpaces(p))
		if p == "" {
			continue
		}
		k, val, ok := cutByte(p, '=')
		if !ok {
			if len(p) > 64 {
				p = p[:64] + "..."
			}
			return errIncomplete("'" + p + "' not a valid key=value pair (missing equal-sign) in Authorization header: '" + redactAuthorization(h) + "'.")
		}
		var dst *string
		switch k {
		case "Credential":
			dst = &a.credential
		case "SignedHeaders":
			dst = &a.signedHeaders
		case "Signature":
			dst = &a.signature
		default:
			continue // AWS ignores parameters it does not know
		}
		if *dst != "" {
			return errIncomplete("Authorization header has duplicate '" + k + "' parameter. Authorization=" + redactAuthorization(h))
		}
		*dst = val
	}
	var missing string
	if a.credential == "" {
		missing += "Authorization header requires 'Credential' parameter. "
	}
	if a.signature == "" {
		missing += "Authorization header requires 'Signature' parameter. "
	}
	if a.signedHeaders == "" {
		missing += "Authorization header requires 'SignedHeaders' parameter. "
	}
	if !hasDate {
		missing += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
	}
	if missing != "" {
		return errIncomplete(missing + "Authorization=" + redactAuthorization(h))
	}
	if err := a.parseCredential(); err != nil {
		return err
	}
	return nil
}

// parseCredential splits the Credential value: five elements for SigV4,
// four (no region) for SigV4a.
func (a *authorization) parseCredential() *Error {
	want := 5
	if a.algorithm == AlgorithmV4A {
		want = 4
	}
	// Cut want-1 times: exactly want-1 slashes means every cut found one
	// and none is left in the last element (which, when it is the
	// terminator, needs no looking at).
	var parts [5]string
	rest := a.credential
	cut := true
	for i := 0; i < want-1; i++ {
		var found bool
		parts[i], rest, found = cutByte(rest, '/')
		cut = cut && found
	}
	parts[want-1] = rest
	if !cut || rest != terminator && strings.IndexByte(rest, '/') >= 0 {
		shape := "keyid/date/region/service/term"
		if want == 4 {
			shape = "keyid/date/service/term"
		}
		cred := a.credential
		if len(cred) > 256 {
			cred = cred[:256] + "..."
		}
		return errIncomplete("Credential must have exactly " + string(rune('0'+want)) + " slash-delimited elements, e.g. " + shape + ", got '" + cred + "'")
	}
	term := parts[want-1]
	a.accessKeyID, a.date = parts[0], parts[1]
	if want == 5 {
		a.region, a.service = parts[2], parts[3]
	} else {
		a.service = parts[2]
	}
	if term != terminator {
		t := term
		if len(t) > 64 {
			t = t[:64] + "..."
		}
		return errIncomplete("Credential should be scoped with a valid terminator: 'aws4_request', not '" + t + "'.")
	}
	return nil
}

// cutByte is strings.Cut for a one-byte separator, without the general
// Index dispatch: the Authorization header is cut a dozen times a request.
func cutByte(s string, sep byte) (before, after string, found bool) {
	i := strings.IndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// trimLeftSpaces is strings.TrimLeft(s, " ").
func trimLeftSpaces(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

// trimRightSpaces is strings.TrimRight(s, " ").
func trimRightSpaces(s string) string {
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

// scope returns the credential scope as it appears in the string to sign.
func (a *authorization) appendScope(dst []byte) []byte {
	dst = append(dst, a.date...)
	dst = append(dst, '/')
	if a.algorithm == AlgorithmV4 {
		dst = append(dst, a.region...)
		dst = append(dst, '/')
	}
	dst = append(dst, a.service...)
	dst = append(dst, '/')
	return append(dst, terminator...)
}
