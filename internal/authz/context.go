package authz

import (
	"strconv"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// Context is a request's condition keys, built once per request and read
// by every statement without allocating. The zero Context is empty.
type Context struct {
	pairs []ctxPair
}

type ctxPair struct {
	key string
	v   keys.Values
}

var _ keys.Context = (*Context)(nil)

// Set sets key (case-insensitive) to v, replacing an earlier value.
func (c *Context) Set(key string, v keys.Values) {
	for i := range c.pairs {
		if strings.EqualFold(c.pairs[i].key, key) {
			c.pairs[i].v = v
			return
		}
	}
	c.pairs = append(c.pairs, ctxPair{key, v})
}

// SetString sets a single-valued key.
func (c *Context) SetString(key, value string) { c.Set(key, keys.Single(value)) }

// Delete removes key.
func (c *Context) Delete(key string) {
	for i := range c.pairs {
		if strings.EqualFold(c.pairs[i].key, key) {
			c.pairs = append(c.pairs[:i], c.pairs[i+1:]...)
			return
		}
	}
}

// Reset empties the context, keeping its storage.
func (c *Context) Reset() { c.pairs = c.pairs[:0] }

// Lookup implements keys.Context.
func (c *Context) Lookup(key string) (keys.Values, bool) {
	for i := range c.pairs {
		p := &c.pairs[i]
		if len(p.key) == len(key) && (p.key == key || strings.EqualFold(p.key, key)) {
			return p.v, true
		}
	}
	return keys.Values{}, false
}

// Keys returns the keys set, in the order they were first set.
func (c *Context) Keys() []string {
	out := make([]string, len(c.pairs))
	for i, p := range c.pairs {
		out[i] = p.key
	}
	return out
}

// SetDefaults fills the keys that follow from the caller and the time of
// the request, where they are not set already: aws:PrincipalArn,
// aws:PrincipalAccount, aws:PrincipalType, aws:username (users),
// aws:CurrentTime and aws:EpochTime.
func (c *Context) SetDefaults(p Principal, now time.Time) {
	setIfMissing := func(k, v string) {
		if _, ok := c.Lookup(k); !ok && v != "" {
			c.SetString(k, v)
		}
	}
	if p.Kind != Anonymous {
		arn := p.ARN
		if p.Kind == RoleSession {
			arn = p.RoleARN
		}
		setIfMissing("aws:PrincipalArn", arn)
		setIfMissing("aws:PrincipalAccount", p.Account)
		setIfMissing("aws:PrincipalType", principalType(p.Kind))
		if p.Kind == User {
			setIfMissing("aws:username", p.Name)
		}
	}
	setIfMissing("aws:CurrentTime", now.UTC().Format(time.RFC3339))
	setIfMissing("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
}

func principalType(k PrincipalKind) string {
	switch k {
	case AccountRoot:
		return "Account"
	case User:
		return "User"
	case Role, RoleSession:
		return "AssumedRole"
	case FederatedUser:
		return "FederatedUser"
	case Service:
		return "Service"
	case Workload:
		return "Workload"
	}
	return ""
}
