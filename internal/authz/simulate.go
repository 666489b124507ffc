package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/policy"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

// SimRequest is the request document of "ztgate policy simulate" and of
// policy tests: a request and the policies to decide it with, inline.
type SimRequest struct {
	Principal          string              `json:"principal"`
	Action             string              `json:"action"`
	Resource           string              `json:"resource"`
	ResourceAccount    string              `json:"resourceAccount,omitempty"`
	Context            SimContext          `json:"context,omitempty"`
	IdentityPolicies   []json.RawMessage   `json:"identityPolicies,omitempty"`
	ResourcePolicy     json.RawMessage     `json:"resourcePolicy,omitempty"`
	PermissionBoundary json.RawMessage     `json:"permissionsBoundary,omitempty"`
	SessionPolicy      json.RawMessage     `json:"sessionPolicy,omitempty"`
	Guardrails         [][]json.RawMessage `json:"guardrails,omitempty"`
	ResourceGuardrails [][]json.RawMessage `json:"resourceGuardrails,omitempty"`
	EndpointPolicies   []json.RawMessage   `json:"endpointPolicies,omitempty"`
}

// SimContext is the context of a request document: condition keys and
// their values, a string or a list of strings each. Keys compare without
// regard to case, as in policies, so two keys that differ only in case
// (or a key given twice) are refused rather than one of them silently
// winning; so is null, which would read as a value.
type SimContext map[string]json.RawMessage

// UnmarshalJSON decodes the context object, refusing duplicate keys.
func (c *SimContext) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*c = nil
		return nil
	}
	if tok != json.Delim('{') {
		return errors.New(`"context" must be an object`)
	}
	out := SimContext{}
	seen := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		k := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if prev, ok := seen[strings.ToLower(k)]; ok {
			if prev == k {
				return fmt.Errorf("context key %q is given twice", k)
			}
			return fmt.Errorf("context keys %q and %q differ only in case, and keys compare without regard to case", prev, k)
		}
		seen[strings.ToLower(k)] = k
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return fmt.Errorf("context key %q: null is no value; leave the key out for a missing key", k)
		}
		out[k] = raw
	}
	*c = out
	return nil
}

// anonymousCaller is how a request document names a caller without
// credentials.
const anonymousCaller = "anonymous"

// SimResult is the answer of "ztgate policy simulate".
type SimResult struct {
	Decision          string         `json:"decision"`
	BlockedBy         string         `json:"blockedBy,omitempty"`
	MatchedStatements []MatchedJSON  `json:"matchedStatements"`
	Truncated         bool           `json:"truncated,omitempty"`
	Context           map[string]any `json:"context,omitempty"`
}

// MatchedJSON names a deciding statement.
type MatchedJSON struct {
	Policy    string `json:"policy"`
	Sid       string `json:"sid,omitempty"`
	Statement int    `json:"statement"`
	Effect    string `json:"effect"`
}

// ErrInvalidRequest classifies problems with a request document.
var ErrInvalidRequest = errors.New("invalid request")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// ParseSimRequest decodes a request document strictly.
func ParseSimRequest(data []byte) (*SimRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r SimRequest
	if err := dec.Decode(&r); err != nil {
		return nil, invalid("%v", err)
	}
	if dec.More() {
		return nil, invalid("more than one JSON value")
	}
	switch {
	case r.Principal == "":
		return nil, invalid(`"principal" is required (an ARN, a service principal, a SPIFFE ID, or "anonymous")`)
	case r.Action == "":
		return nil, invalid(`"action" is required`)
	case r.Resource == "":
		return nil, invalid(`"resource" is required`)
	}
	return &r, nil
}

// present reports whether an optional policy was given.
func present(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err == nil && len(m) == 0 {
		return false // null, {} or { }
	}
	return len(bytes.TrimSpace(raw)) > 0
}

// compileAs validates and compiles one inline policy.
func compileAs(name string, raw json.RawMessage, kind policy.Kind) (*Policy, error) {
	doc, errs := policy.CheckEvaluable(raw, kind)
	if len(errs) > 0 {
		return nil, invalid("%s: %v", name, errs[0])
	}
	p, err := Compile(name, doc)
	if err != nil {
		return nil, invalid("%s: %v", name, err)
	}
	return p, nil
}

func compileList(name string, raws []json.RawMessage, kind policy.Kind) (*Set, error) {
	ps := make([]*Policy, 0, len(raws))
	for i, raw := range raws {
		p, err := compileAs(fmt.Sprintf("%s[%d]", name, i), raw, kind)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return NewSet(ps...), nil
}

// Build turns the document into a request and its policies. now fills the
// time keys the document does not set.
func (sr *SimRequest) Build(now time.Time) (*Request, *Policies, error) {
	var ps Policies
	var err error
	if ps.Identity, err = compileList("identityPolicies", sr.IdentityPolicies, policy.Identity); err != nil {
		return nil, nil, err
	}
	one := func(name string, raw json.RawMessage, kind policy.Kind) (*Set, error) {
		if !present(raw) {
			return nil, nil
		}
		p, err := compileAs(name, raw, kind)
		if err != nil {
			return nil, err
		}
		return NewSet(p), nil
	}
	if ps.Resource, err = one("resourcePolicy", sr.ResourcePolicy, policy.Resource); err != nil {
		return nil, nil, err
	}
	if ps.Boundary, err = one("permissionsBoundary", sr.PermissionBoundary, policy.Boundary); err != nil {
		return nil, nil, err
	}
	if ps.Session, err = one("sessionPolicy", sr.SessionPolicy, policy.Session); err != nil {
		return nil, nil, err
	}
	if len(sr.EndpointPolicies) > 0 {
		if ps.Endpoint, err = compileList("endpointPolicies", sr.EndpointPolicies, policy.Identity); err != nil {
			return nil, nil, err
		}
	}
	for i, level := range sr.Guardrails {
		s, err := compileList("guardrails["+strconv.Itoa(i)+"]", level, policy.Guardrail)
		if err != nil {
			return nil, nil, err
		}
		ps.Guardrails = append(ps.Guardrails, s)
	}
	for i, level := range sr.ResourceGuardrails {
		s, err := compileList("resourceGuardrails["+strconv.Itoa(i)+"]", level, policy.ResourceGuardrail)
		if err != nil {
			return nil, nil, err
		}
		ps.ResourceGuardrails = append(ps.ResourceGuardrails, s)
	}
	ctx := &Context{}
	for _, k := range slices.Sorted(maps.Keys(sr.Context)) {
		raw := sr.Context[k]
		var s string
		if json.Unmarshal(raw, &s) == nil {
			ctx.SetString(k, s)
			continue
		}
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, nil, invalid("context key %q: a value must be a string or a list of strings", k)
		}
		ctx.Set(k, keys.List(l))
	}
	principal := sr.Principal
	if principal == anonymousCaller {
		principal = "" // a caller without credentials
	}
	p := ParsePrincipal(principal)
	ctx.SetDefaults(p, now)
	return &Request{Principal: p, Action: sr.Action, Resource: sr.Resource, ResourceAccount: sr.ResourceAccount, Context: ctx}, &ps, nil
}

// Simulate decides a request document.
func Simulate(data []byte, now time.Time) (*SimResult, error) {
	sr, err := ParseSimRequest(data)
	if err != nil {
		return nil, err
	}
	r, ps, err := sr.Build(now)
	if err != nil {
		return nil, err
	}
	d := Evaluate(r, ps)
	return resultOf(&d), nil
}

func resultOf(d *Decision) *SimResult {
	res := &SimResult{Decision: d.Effect.String(), MatchedStatements: []MatchedJSON{}, Truncated: d.Truncated}
	if d.Effect == ImplicitDeny && d.BlockedBy != NoLayer {
		res.BlockedBy = d.BlockedBy.String()
	}
	for _, s := range d.Matched() {
		eff := "Deny"
		if s.Allow {
			eff = "Allow"
		}
		res.MatchedStatements = append(res.MatchedStatements, MatchedJSON{Policy: s.Policy.Name, Sid: s.Sid, Statement: s.Index, Effect: eff})
	}
	return res
}
