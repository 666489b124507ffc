// Package querytest checks what a query-protocol server (ztgate's STS and
// IAM) answers against a botocore service model such as
// botocore/data/sts/2011-06-15/service-2.json: that a success is the
// operation's output shape in AWS's XML envelope, that an error is AWS's
// ErrorResponse, and which input members and constraints an operation has,
// for tests that probe validation. It is for tests; it reads the model
// from a path so that corpora stay outside the repository.
package querytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Errors, for errors.Is.
var (
	// ErrUnknownOperation: the model has no such operation.
	ErrUnknownOperation = errors.New("querytest: unknown operation")
	// ErrMismatch: a body does not conform to the model; the error is a
	// join of *Mismatch values, one per problem.
	ErrMismatch = errors.New("querytest: body does not match the model")
)

// Model is a botocore service model of a query-protocol service.
type Model struct {
	namespace string
	version   string
	ops       map[string]*operation
	shapes    map[string]*shape
}

type operation struct {
	Name   string `json:"name"`
	Input  *ref   `json:"input"`
	Output *struct {
		ref
		ResultWrapper string `json:"resultWrapper"`
	} `json:"output"`
}

// ref is a reference to a shape, with the traits a member may add.
type ref struct {
	Shape           string `json:"shape"`
	LocationName    string `json:"locationName"`
	Flattened       bool   `json:"flattened"`
	TimestampFormat string `json:"timestampFormat"`
}

type shape struct {
	Type            string          `json:"type"`
	Members         map[string]*ref `json:"members"`
	Required        []string        `json:"required"`
	Member          *ref            `json:"member"`
	Key             *ref            `json:"key"`
	Value           *ref            `json:"value"`
	Min             *json.Number    `json:"min"`
	Max             *json.Number    `json:"max"`
	Pattern         string          `json:"pattern"`
	Enum            []string        `json:"enum"`
	Flattened       bool            `json:"flattened"`
	TimestampFormat string          `json:"timestampFormat"`
	Sensitive       bool            `json:"sensitive"`
	Error           *struct {
		Code        string `json:"code"`
		SenderFault bool   `json:"senderFault"`
	} `json:"error"`
	Exception bool `json:"exception"`

	re *regexp.Regexp // Pattern, compiled by LoadModel
}

// LoadModel reads a botocore service-2.json of a query-protocol service.
func LoadModel(path string) (*Model, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("querytest: %w", err)
	}
	var doc struct {
		Metadata struct {
			Protocol     string `json:"protocol"`
			APIVersion   string `json:"apiVersion"`
			XMLNamespace string `json:"xmlNamespace"`
		} `json:"metadata"`
		Operations map[string]*operation `json:"operations"`
		Shapes     map[string]*shape     `json:"shapes"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("querytest: %s: %w", path, err)
	}
	if doc.Metadata.Protocol != "query" {
		return nil, fmt.Errorf("querytest: %s: protocol %q, want query", path, doc.Metadata.Protocol)
	}
	if doc.Metadata.XMLNamespace == "" {
		return nil, fmt.Errorf("querytest: %s: no xmlNamespace", path)
	}
	m := &Model{
		namespace: doc.Metadata.XMLNamespace, version: doc.Metadata.APIVersion,
		ops: doc.Operations, shapes: doc.Shapes,
	}
	check := func(where string, r *ref) error {
		if r != nil && m.shapes[r.Shape] == nil {
			return fmt.Errorf("querytest: %s: %s refers to unknown shape %q", path, where, r.Shape)
		}
		return nil
	}
	for name, op := range m.ops {
		var out *ref
		if op.Output != nil {
			out = &op.Output.ref
		}
		if err := errors.Join(check(name+" input", op.Input), check(name+" output", out)); err != nil {
			return nil, err
		}
	}
	for name, s := range m.shapes {
		errs := []error{check(name+" member", s.Member), check(name+" key", s.Key), check(name+" value", s.Value)}
		for mn, r := range s.Members {
			errs = append(errs, check(name+"."+mn, r))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		if s.Pattern != "" {
			if s.re, err = compilePattern(s.Pattern); err != nil {
				return nil, fmt.Errorf("querytest: %s: shape %s: %w", path, name, err)
			}
		}
	}
	return m, nil
}

// Namespace is the XML namespace responses are in.
func (m *Model) Namespace() string { return m.namespace }

// Version is the API version clients send as Version.
func (m *Model) Version() string { return m.version }

// Operations returns the operations' names, sorted.
func (m *Model) Operations() []string {
	names := make([]string, 0, len(m.ops))
	for n := range m.ops {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Member describes a member of an operation's input or output and the
// constraints the model puts on it.
type Member struct {
	// Name is the member's name on the wire: the parameter name in a
	// request (Tags, then Tags.member.N.Key), the element name in a
	// response.
	Name string
	// Shape and Type are the model's shape name and type: "string",
	// "integer", "long", "boolean", "timestamp", "blob", "float",
	// "double", "list", "map" or "structure".
	Shape, Type string
	// Required: the enclosing structure lists the member as required.
	Required bool
	// Sensitive: the model marks the value as secret.
	Sensitive bool
	// MinLength and MaxLength bound a string's length in characters, a
	// blob's in bytes, a list's or map's in elements; nil when unbounded.
	MinLength, MaxLength *int64
	// MinValue and MaxValue bound a number; nil when unbounded.
	MinValue, MaxValue *float64
	// Pattern is the model's regular expression, in the model's Java
	// syntax; Regexp compiles it.
	Pattern string
	// Enum lists the allowed strings, if the model restricts them.
	Enum []string
	// Flattened: a list or map sent without its member or entry wrapper.
	Flattened bool
	// Members are a structure's members, sorted by Name. A structure
	// that contains itself is not expanded again.
	Members []Member
	// Element is a list's element, with its wire name ("member" unless
	// the model renames it).
	Element *Member
	// Key and Value are a map's key and value, with their wire names.
	Key, Value *Member
}

// Regexp compiles Pattern for Go, anchored at both ends: AWS validates
// the whole value against it. It returns nil when there is no pattern.
func (mb Member) Regexp() (*regexp.Regexp, error) {
	if mb.Pattern == "" {
		return nil, nil
	}
	return compilePattern(mb.Pattern)
}

// Input returns the members of operation's input, sorted by name.
func (m *Model) Input(operation string) ([]Member, error) {
	op := m.ops[operation]
	if op == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownOperation, operation)
	}
	if op.Input == nil {
		return nil, nil
	}
	return m.describe("", op.Input, false, nil).Members, nil
}

// Output returns the members of operation's result, sorted by name.
func (m *Model) Output(operation string) ([]Member, error) {
	op := m.ops[operation]
	if op == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownOperation, operation)
	}
	if op.Output == nil {
		return nil, nil
	}
	return m.describe("", &op.Output.ref, false, nil).Members, nil
}

// describe builds the Member for r; path holds the structures being
// expanded, to stop at recursion.
func (m *Model) describe(name string, r *ref, required bool, path []string) Member {
	s := m.shapes[r.Shape]
	mb := Member{
		Name: name, Shape: r.Shape, Type: s.Type, Required: required, Sensitive: s.Sensitive,
		Pattern: s.Pattern, Enum: s.Enum, Flattened: r.Flattened || s.Flattened,
	}
	switch s.Type {
	case "integer", "long", "short", "byte", "float", "double", "bigInteger", "bigDecimal":
		mb.MinValue, mb.MaxValue = float(s.Min), float(s.Max)
	default:
		mb.MinLength, mb.MaxLength = integer(s.Min), integer(s.Max)
	}
	switch s.Type {
	case "structure":
		if slices.Contains(path, r.Shape) {
			break
		}
		path = append(path, r.Shape)
		for n, mr := range s.Members {
			mb.Members = append(mb.Members, m.describe(wireName(n, mr), mr, slices.Contains(s.Required, n), path))
		}
		slices.SortFunc(mb.Members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	case "list":
		e := m.describe(wireName("member", s.Member), s.Member, false, path)
		mb.Element = &e
	case "map":
		k := m.describe(wireName("key", s.Key), s.Key, true, path)
		v := m.describe(wireName("value", s.Value), s.Value, true, path)
		mb.Key, mb.Value = &k, &v
	}
	return mb
}

func wireName(name string, r *ref) string {
	if r.LocationName != "" {
		return r.LocationName
	}
	return name
}

func integer(n *json.Number) *int64 {
	if n == nil {
		return nil
	}
	v, err := n.Int64()
	if err != nil {
		f, _ := n.Float64()
		v = int64(f)
	}
	return &v
}

func float(n *json.Number) *float64 {
	if n == nil {
		return nil
	}
	v, _ := n.Float64()
	return &v
}

// compilePattern translates a model pattern from Java's regular
// expressions to Go's and anchors it. Java writes code points as \uXXXX;
// the models also write the supplementary planes as \u10000-\u10FFFF, so
// four hex digits starting 10 and followed by one or two more are read
// as one code point from U+10000 on.
func compilePattern(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '\\' || i+1 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		if p[i+1] != 'u' {
			b.WriteString(p[i : i+2])
			i++
			continue
		}
		n := 0
		for n < 4 && i+2+n < len(p) && isHex(p[i+2+n]) {
			n++
		}
		if n != 4 {
			return nil, fmt.Errorf("pattern %q: \\u needs four hex digits", p)
		}
		if p[i+2:i+4] == "10" {
			for n < 6 && i+2+n < len(p) && isHex(p[i+2+n]) {
				n++
			}
		}
		cp, _ := strconv.ParseUint(p[i+2:i+2+n], 16, 32)
		fmt.Fprintf(&b, `\x{%X}`, cp)
		i += 1 + n
	}
	re, err := regexp.Compile(`^(?:` + b.String() + `)$`)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", p, err)
	}
	return re, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
