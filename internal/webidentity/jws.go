package webidentity

import (
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/ztgate/ztgate/internal/jsonobj"
	"strings"
	"time"
)

// jws is a compact JWS split and decoded, its claims not yet trusted.
type jws struct {
	alg, kid     string
	signingInput string // BASE64URL(header) "." BASE64URL(payload)
	signature    []byte
	claims       claims
}

// claims are the registered claims Verify uses; others are ignored.
type claims struct {
	iss, sub, azp, jti string
	aud, amr           []string
	exp, iat, nbf      time.Time
	hasNbf             bool
}

var b64 = base64.RawURLEncoding.Strict()

// parseJWS splits and decodes a compact JWS and checks its header and the
// presence and types of the required claims. It does not verify anything.
// No error it returns contains the token.
func parseJWS(token string) (*jws, error) {
	if len(token) > MaxTokenLength {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrMalformed, MaxTokenLength)
	}
	// Only the base64url alphabet and the two dots: the base64 decoder
	// would otherwise skip the newlines someone pasted in.
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return nil, fmt.Errorf("%w: not a compact jws: character outside base64url at offset %d", ErrMalformed, i)
		}
	}
	if dots != 2 {
		return nil, fmt.Errorf("%w: not a compact jws: %d parts", ErrMalformed, dots+1)
	}
	h, rest, _ := strings.Cut(token, ".")
	p, s, _ := strings.Cut(rest, ".")
	if h == "" || p == "" {
		return nil, fmt.Errorf("%w: not a compact jws: empty part", ErrMalformed)
	}
	header, err := b64.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformed)
	}
	t := &jws{signingInput: token[:len(h)+1+len(p)]}
	if err := t.parseHeader(header); err != nil {
		return nil, err
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	if err := t.claims.parse(payload); err != nil {
		return nil, err
	}
	if t.signature, err = b64.DecodeString(s); err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	return t, nil
}

func (t *jws) parseHeader(header []byte) error {
	var hasAlg bool
	err := jsonobj.Object(header, func(name, raw []byte) error {
		var ok bool
		switch string(name) {
		case "alg":
			t.alg, ok = jsonobj.String(raw)
			hasAlg = true
		case "kid":
			t.kid, ok = jsonobj.String(raw)
		case "crit":
			// No extension is understood, so RFC 7515 §4.1.11 requires
			// refusing any token that marks one critical (b64:false
			// among them, which changes what is signed).
			return errors.New("crit not supported")
		default:
			// typ, cty and the key-locating jwk, jku, x5u, x5c, x5t are
			// ignored: keys come only from the issuer's JWKS.
			return nil
		}
		if !ok {
			return fmt.Errorf("%s is not a string", name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if !hasAlg || t.alg == "" {
		return fmt.Errorf("%w: header: no alg", ErrMalformed)
	}
	switch {
	case strings.EqualFold(t.alg, "none"):
		return fmt.Errorf("%w: alg none refused", ErrSignature)
	case strings.HasPrefix(strings.ToUpper(t.alg), "HS"):
		// A symmetric algorithm would use the issuer's public key as
		// the MAC secret: anyone could sign.
		return fmt.Errorf("%w: symmetric alg %s refused", ErrSignature, quote(t.alg))
	case algorithms[t.alg] == nil:
		return fmt.Errorf("%w: unsupported alg %s", ErrSignature, quote(t.alg))
	}
	return nil
}

func (c *claims) parse(payload []byte) error {
	var hasExp, hasIat bool
	err := jsonobj.Object(payload, func(name, raw []byte) error {
		var ok bool
		switch string(name) {
		case "iss":
			c.iss, ok = jsonobj.String(raw)
		case "sub":
			c.sub, ok = jsonobj.String(raw)
		case "azp":
			c.azp, ok = jsonobj.String(raw)
		case "jti":
			c.jti, ok = jsonobj.String(raw)
		case "aud":
			// A string or an array of strings (RFC 7519 §4.1.3).
			c.aud, ok = jsonobj.Strings(raw, true)
		case "amr":
			c.amr, ok = jsonobj.Strings(raw, false)
		case "exp":
			c.exp, ok = jsonobj.Date(raw)
			hasExp = true
		case "iat":
			c.iat, ok = jsonobj.Date(raw)
			hasIat = true
		case "nbf":
			c.nbf, ok = jsonobj.Date(raw)
			c.hasNbf = true
		default:
			return nil
		}
		if !ok {
			return fmt.Errorf("claim %s has the wrong type", name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	var missing []string
	if c.iss == "" {
		missing = append(missing, "iss")
	}
	if c.sub == "" {
		missing = append(missing, "sub")
	}
	if len(c.aud) == 0 {
		missing = append(missing, "aud")
	}
	if !hasExp {
		missing = append(missing, "exp")
	}
	if !hasIat {
		missing = append(missing, "iat")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: claims: missing %s", ErrMalformed, strings.Join(missing, ", "))
	}
	return nil
}
