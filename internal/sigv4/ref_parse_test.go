package sigv4

import "strings"

// refParseAuthorization is parseAuthorization as it was before it was
// tuned (strings.Cut, strings.Trim and strings.Count where it now cuts at
// single bytes and fills its result in place), kept as the reference that
// TestParseAuthorizationReference and FuzzParseAuthorizationReference hold
// the tuned parser to, errors included.
func refParseAuthorization(h string, hasDate bool) (authorization, *Error) {
	var a authorization
	alg, rest, _ := strings.Cut(strings.TrimLeft(h, " "), " ")
	switch alg {
	case AlgorithmV4, AlgorithmV4A:
		a.algorithm = alg
	default:
		if strings.ContainsRune(alg, '=') {
			// Not an algorithm but a parameter, perhaps the signature:
			// answer as for a missing algorithm, echoing it redacted.
			return a, errIncomplete("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=" + redactAuthorization(h))
		}
		if len(alg) > 64 {
			alg = alg[:64] + "..."
		}
		return a, errIncomplete("Unsupported AWS 'algorithm': '" + alg + "'")
	}
	for rest != "" {
		var p string
		p, rest, _ = strings.Cut(rest, ",")
		p = strings.Trim(p, " ")
		if p == "" {
			continue
		}
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			if len(p) > 64 {
				p = p[:64] + "..."
			}
			return a, errIncomplete("'" + p + "' not a valid key=value pair (missing equal-sign) in Authorization header: '" + redactAuthorization(h) + "'.")
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
			return a, errIncomplete("Authorization header has duplicate '" + k + "' parameter. Authorization=" + redactAuthorization(h))
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
		return a, errIncomplete(missing + "Authorization=" + redactAuthorization(h))
	}
	if err := refParseCredential(&a); err != nil {
		return a, err
	}
	return a, nil
}

// parseCredential splits the Credential value: five elements for SigV4,
// four (no region) for SigV4a.
// refParseCredential is parseCredential as it was before it was tuned.
func refParseCredential(a *authorization) *Error {
	want := 5
	if a.algorithm == AlgorithmV4A {
		want = 4
	}
	if strings.Count(a.credential, "/") != want-1 {
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
	var parts [5]string
	rest := a.credential
	for i := 0; i < want; i++ {
		parts[i], rest, _ = strings.Cut(rest, "/")
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
