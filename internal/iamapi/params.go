package iamapi

import (
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/ztgate/ztgate/internal/awsquery"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

// contextEntry is one ContextEntries element of a simulation.
type contextEntry struct {
	Name   string
	Values []string
	Type   string
}

// contextTypes are AWS's ContextKeyType values.
var contextTypes = []string{"string", "stringList", "numeric", "numericList", "boolean", "booleanList", "ip", "ipList", "binary", "binaryList", "date", "dateList"}

// validate checks the request's parameters against the action's model,
// as AWS does before anything else, and reads its lists.
func (c *call) validate() error {
	var msgs []string
	null := func(name string) {
		msgs = append(msgs, "Value null at '"+camel(name)+"' failed to satisfy constraint: Member must not be null")
	}
	for _, p := range c.op.params {
		switch p.kind {
		case str, doc, num, boolean:
			if !c.params.Has(p.name) {
				if p.required {
					null(p.name)
				}
				continue
			}
			v := c.params.Get(p.name)
			if p.kind == boolean && v != "true" && v != "false" {
				msgs = append(msgs, "Value '"+clip(v)+"' at '"+camel(p.name)+"' failed to satisfy constraint: Member must be true or false")
			}
			msgs = append(msgs, p.check.check(camel(p.name), v, p.kind)...)
		case list, docList:
			vs, err := c.params.List(p.name)
			if err != nil {
				return invalidParam(err)
			}
			if vs == nil && p.required {
				null(p.name)
			}
			if c.lists == nil {
				c.lists = map[string][]string{}
			}
			c.lists[p.name] = vs
		case tags:
			ss, err := c.params.Structs(p.name)
			if err != nil {
				return invalidParam(err)
			}
			if ss == nil && p.required {
				null(p.name)
			}
			for i, s := range ss {
				at := camel(p.name) + ".member." + strconv.Itoa(i+1)
				if !s.Has("Key") {
					null(at + ".key")
				}
				c.tags = append(c.tags, iam.Tag{Key: s.Get("Key"), Value: s.Get("Value")})
			}
		case contextEntries:
			ss, err := c.params.Structs(p.name)
			if err != nil {
				return invalidParam(err)
			}
			for i, s := range ss {
				vs, err := s.List("ContextKeyValues")
				if err != nil {
					return invalidParam(err)
				}
				e := contextEntry{Name: s.Get("ContextKeyName"), Values: vs, Type: s.Get("ContextKeyType")}
				at := camel(p.name) + ".member." + strconv.Itoa(i+1)
				if e.Name == "" {
					null(at + ".contextKeyName")
				}
				if e.Type == "" {
					e.Type = "string"
				}
				if !slices.Contains(contextTypes, e.Type) {
					msgs = append(msgs, (&constraint{enum: contextTypes}).check(at+".contextKeyType", e.Type, str)...)
				}
				c.entries = append(c.entries, e)
			}
		}
	}
	if len(msgs) > 0 {
		return validationErrors(msgs)
	}
	return nil
}

// invalidParam answers a list or structure that does not decode.
func invalidParam(err error) *Error {
	var e *awsquery.Error
	if errors.As(err, &e) && e.Param != "" {
		return validation("Invalid parameter " + e.Param + ": " + e.Reason)
	}
	return validation("Invalid parameter: " + err.Error())
}

// get returns a string parameter ("" when absent).
func (c *call) get(name string) string {
	if v, ok := c.names[name]; ok {
		return v
	}
	return c.params.Get(name)
}

// nameKinds are the parameters naming an entity, with its kind.
var nameKinds = map[string]string{"UserName": iam.KindUser, "RoleName": iam.KindRole, "GroupName": iam.KindGroup}

// storedNames reads the entity names the request gives in another case
// than they are stored in as the stored ones: IAM names are not told
// apart by case, so "Bob" is the user bob, as in AWS.
func (c *call) storedNames() error {
	for _, p := range c.op.params {
		kind, ok := nameKinds[p.name]
		if !ok || !c.params.Has(p.name) {
			continue
		}
		given := c.params.Get(p.name)
		stored, err := c.h.dir.StoredName(c.ctx, kind, given)
		if err != nil {
			return err
		}
		if stored != given {
			if c.names == nil {
				c.names = map[string]string{}
			}
			c.names[p.name] = stored
		}
	}
	return nil
}

// auditParams is the request as the audit record keeps it: the action's
// parameters by their camelCase names. IAM requests carry no secrets.
func (c *call) auditParams() map[string]any {
	m := map[string]any{}
	for _, p := range c.op.params {
		switch p.kind {
		case str, doc, num, boolean:
			if c.params.Has(p.name) {
				m[camel(p.name)] = c.params.Get(p.name)
			}
		case list, docList:
			if vs := c.lists[p.name]; vs != nil {
				m[camel(p.name)] = vs
			}
		case tags:
			if len(c.tags) > 0 {
				ts := make([]any, len(c.tags))
				for i, t := range c.tags {
					ts[i] = map[string]any{"key": t.Key, "value": t.Value}
				}
				m["tags"] = ts
			}
		case contextEntries:
			if len(c.entries) > 0 {
				es := make([]any, len(c.entries))
				for i, e := range c.entries {
					es[i] = map[string]any{"contextKeyName": e.Name, "contextKeyValues": e.Values, "contextKeyType": e.Type}
				}
				m["contextEntries"] = es
			}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// markerPrefix begins every marker this API hands out, so that one it did
// not (a typo, a marker of another API) is refused rather than read as a
// place in the listing.
const markerPrefix = "ztgate-marker:"

// page returns the part of items a Marker and MaxItems ask for (100 at a
// time by default, as AWS), sorted by key, whether more follow, and the
// marker that continues. The marker names the last key returned, so a
// listing resumes in the right place when items come and go between
// pages.
func page[T any](c *call, items []T, key func(T) string) ([]T, bool, string, error) {
	slices.SortStableFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	start := 0
	if m := c.get("Marker"); m != "" {
		raw, err := base64.RawURLEncoding.DecodeString(m)
		last, ok := strings.CutPrefix(string(raw), markerPrefix)
		if err != nil || !ok {
			return nil, false, "", validation("Invalid Marker.")
		}
		start, _ = slices.BinarySearchFunc(items, last, func(t T, k string) int { return strings.Compare(key(t), k) })
		for start < len(items) && key(items[start]) <= last {
			start++
		}
	}
	n := 100
	if c.params.Has("MaxItems") {
		n, _ = strconv.Atoi(c.get("MaxItems")) // checked by validate
	}
	end := min(start+n, len(items))
	if end < len(items) {
		return items[start:end], true, base64.RawURLEncoding.EncodeToString([]byte(markerPrefix + key(items[end-1]))), nil
	}
	return items[start:end], false, "", nil
}

// listValues is a multivalued condition key's value.
func listValues(vs []string) keys.Values { return keys.List(vs) }
