package assertion

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ztgate/ztgate/internal/jsonobj"
	"strconv"
	"strings"
	"time"
)

// Claims are what an assertion says about a request's caller. In a token
// they are JSON members named as the field comments say.
type Claims struct {
	Issuer      string   // iss: "ztgate" or the node's public URL
	Subject     string   // sub: the principal's ARN
	Audience    string   // aud: the route, e.g. "arn:zt:gateway::000000000000:route/demo"
	PrincipalID string   // principal_id: "AIDA…" or "AROA…:session"
	Account     string   // account
	Name        string   // name: for people, when known
	Email       string   // email: for people, when known
	Groups      []string // groups
	SessionID   string   // sid
	Method      string   // auth_method: "session", "sigv4", "jwt", "mtls"
	// Device holds device facts when known (id, managed, compliant). It is
	// written with encoding/json; Verify returns its numbers as float64.
	Device   map[string]any // device
	AuthTime time.Time      // auth_time
	IssuedAt time.Time      // iat
	Expires  time.Time      // exp
	ID       string         // jti
}

// appendClaims appends c as a JSON object; device is c.Device already
// encoded, or nil. Empty optional claims are left out.
func appendClaims(b []byte, c *Claims, device []byte) []byte {
	b = append(b, `{"iss":`...)
	b = appendString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendString(b, c.Subject)
	b = append(b, `,"aud":`...)
	b = appendString(b, c.Audience)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Expires.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt.Unix(), 10)
	b = appendOptional(b, "jti", c.ID)
	if !c.AuthTime.IsZero() {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime.Unix(), 10)
	}
	b = appendOptional(b, "sid", c.SessionID)
	b = appendOptional(b, "principal_id", c.PrincipalID)
	b = appendOptional(b, "account", c.Account)
	b = appendOptional(b, "auth_method", c.Method)
	b = appendOptional(b, "name", c.Name)
	b = appendOptional(b, "email", c.Email)
	if len(c.Groups) > 0 {
		b = append(b, `,"groups":[`...)
		for i, g := range c.Groups {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, g)
		}
		b = append(b, ']')
	}
	if device != nil {
		b = append(b, `,"device":`...)
		b = append(b, device...)
	}
	return append(b, '}')
}

// appendOptional appends ,"name":"value" unless value is empty. name needs
// no escaping.
func appendOptional(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// tokenClaims are the claims of a token, read but not yet checked.
type tokenClaims struct {
	Claims
	aud    []string
	nbf    time.Time
	hasNbf bool
}

// parseClaims reads a token's payload. It checks types and the presence of
// the required claims (iss, sub, aud, exp, iat), not their values; members
// it does not know are ignored.
func parseClaims(payload []byte) (*tokenClaims, error) {
	t := new(tokenClaims)
	c := &t.Claims
	var hasExp, hasIat bool
	err := jsonobj.Object(payload, func(name, raw []byte) error {
		ok := true
		switch string(name) {
		case "iss":
			c.Issuer, ok = jsonobj.String(raw)
		case "sub":
			c.Subject, ok = jsonobj.String(raw)
		case "aud":
			// A string or an array of strings (RFC 7519 §4.1.3).
			t.aud, ok = jsonobj.Strings(raw, true)
		case "exp":
			c.Expires, ok = jsonobj.Date(raw)
			hasExp = true
		case "iat":
			c.IssuedAt, ok = jsonobj.Date(raw)
			hasIat = true
		case "nbf":
			t.nbf, ok = jsonobj.Date(raw)
			t.hasNbf = true
		case "auth_time":
			c.AuthTime, ok = jsonobj.Date(raw)
		case "jti":
			c.ID, ok = jsonobj.String(raw)
		case "sid":
			c.SessionID, ok = jsonobj.String(raw)
		case "principal_id":
			c.PrincipalID, ok = jsonobj.String(raw)
		case "account":
			c.Account, ok = jsonobj.String(raw)
		case "auth_method":
			c.Method, ok = jsonobj.String(raw)
		case "name":
			c.Name, ok = jsonobj.String(raw)
		case "email":
			c.Email, ok = jsonobj.String(raw)
		case "groups":
			c.Groups, ok = jsonobj.Strings(raw, false)
		case "device":
			ok = len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &c.Device) == nil
		}
		if !ok {
			return fmt.Errorf("claim %s has the wrong type", quote(string(name)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	var missing []string
	if c.Issuer == "" {
		missing = append(missing, "iss")
	}
	if c.Subject == "" {
		missing = append(missing, "sub")
	}
	if len(t.aud) == 0 {
		missing = append(missing, "aud")
	}
	if !hasExp {
		missing = append(missing, "exp")
	}
	if !hasIat {
		missing = append(missing, "iat")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: claims: missing %s", ErrMalformed, strings.Join(missing, ", "))
	}
	return t, nil
}

// check refuses claims Sign must not sign.
func (c *Claims) check() error {
	var problem string
	switch {
	case c.Subject == "":
		problem = "no subject"
	case c.Audience == "":
		problem = "no audience"
	case !c.Expires.After(c.IssuedAt):
		problem = "expires before it is issued"
	case c.IssuedAt.Unix() < 0 || c.Expires.Unix() > jsonobj.MaxNumericDate:
		problem = "times out of range"
	case !c.AuthTime.IsZero() && (c.AuthTime.Unix() < 0 || c.AuthTime.Unix() > jsonobj.MaxNumericDate):
		problem = "auth time out of range"
	default:
		return nil
	}
	return errors.New(problem)
}
