package querytest

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Mismatch is one way a body departs from the model.
type Mismatch struct {
	// Path locates the element, e.g.
	// AssumeRoleResponse/AssumeRoleResult/Credentials/Expiration.
	Path string
	// Problem says what is wrong.
	Problem string
}

func (e *Mismatch) Error() string { return "querytest: " + e.Path + ": " + e.Problem }

// Unwrap returns ErrMismatch.
func (e *Mismatch) Unwrap() error { return ErrMismatch }

// maxMismatches bounds how many problems one check reports.
const maxMismatches = 20

// checker collects mismatches.
type checker struct {
	m    *Model
	errs []error
}

func (c *checker) fail(path, format string, args ...any) {
	if len(c.errs) < maxMismatches {
		c.errs = append(c.errs, &Mismatch{Path: path, Problem: fmt.Sprintf(format, args...)})
	}
}

func (c *checker) result() error { return errors.Join(c.errs...) }

// CheckResponse checks body, the XML a server answered to a successful
// call of operation, against the model: the root element
// <OperationResponse> in the model's namespace holding
// <OperationResult> and <ResponseMetadata><RequestId>; the result holding
// the output shape's members by the model's names and nesting, lists as
// <member> elements, every required member, no element the model does
// not know, scalars that parse as their type (timestamps as ISO 8601,
// integers as decimal numbers) and meet the model's constraints. It
// reports every problem it finds, up to 20, each a *Mismatch.
func (m *Model) CheckResponse(operation string, body []byte) error {
	op := m.ops[operation]
	if op == nil {
		return fmt.Errorf("%w %q", ErrUnknownOperation, operation)
	}
	c := &checker{m: m}
	root, err := parseXML(body)
	if err != nil {
		c.fail("/", "%v", err)
		return c.result()
	}
	want := operation + "Response"
	c.element(root, want, root.name.Local)
	path := root.name.Local
	if root.name.Local != want {
		return c.result()
	}
	wrapper := ""
	if op.Output != nil {
		wrapper = op.Output.ResultWrapper
		if wrapper == "" {
			wrapper = operation + "Result"
		}
	}
	c.noText(path, root)
	var result, meta *node
	for _, ch := range root.children {
		switch ch.name.Local {
		case wrapper:
			if result != nil {
				c.fail(path+"/"+wrapper, "appears more than once")
			}
			result = ch
		case "ResponseMetadata":
			if meta != nil {
				c.fail(path+"/ResponseMetadata", "appears more than once")
			}
			meta = ch
		default:
			c.fail(path+"/"+ch.name.Local, "unknown element: the response holds only %s and ResponseMetadata", orNothing(wrapper))
		}
	}
	if wrapper != "" {
		if result == nil {
			c.fail(path, "missing %s", wrapper)
		} else {
			c.value(path+"/"+wrapper, result, &op.Output.ref)
		}
	}
	if meta == nil {
		c.fail(path, "missing ResponseMetadata")
	} else {
		c.requestID(path+"/ResponseMetadata", meta)
	}
	return c.result()
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// CheckError checks body, the XML a server answered to a failed call:
// <ErrorResponse> in the model's namespace holding
// <Error><Type>Sender|Receiver</Type><Code>…</Code><Message>…</Message></Error>
// and <RequestId>, nothing else. When Code is one of the model's errors,
// Type must agree with its fault.
func (m *Model) CheckError(body []byte) error {
	c := &checker{m: m}
	root, err := parseXML(body)
	if err != nil {
		c.fail("/", "%v", err)
		return c.result()
	}
	c.element(root, "ErrorResponse", root.name.Local)
	if root.name.Local != "ErrorResponse" {
		return c.result()
	}
	c.noText("ErrorResponse", root)
	fields := c.fields("ErrorResponse", root, "Error", "RequestId")
	if e := fields["Error"]; e == nil {
		c.fail("ErrorResponse", "missing Error")
	} else {
		c.noText("ErrorResponse/Error", e)
		f := c.fields("ErrorResponse/Error", e, "Type", "Code", "Message")
		typ, code := c.text("ErrorResponse/Error", f, "Type"), c.text("ErrorResponse/Error", f, "Code")
		c.text("ErrorResponse/Error", f, "Message")
		if f["Type"] != nil && typ != "Sender" && typ != "Receiver" {
			c.fail("ErrorResponse/Error/Type", "%q is neither Sender nor Receiver", typ)
		}
		if s := m.errorShape(code); s != nil && (typ == "Sender") != s.Error.SenderFault && (typ == "Sender" || typ == "Receiver") {
			c.fail("ErrorResponse/Error/Type", "%s for %s, which the model says is the %s's fault", typ, code, fault(s.Error.SenderFault))
		}
	}
	if fields["RequestId"] == nil {
		c.fail("ErrorResponse", "missing RequestId")
	} else {
		c.text("ErrorResponse", fields, "RequestId")
	}
	return c.result()
}

func fault(sender bool) string {
	if sender {
		return "sender"
	}
	return "receiver"
}

// errorShape finds the model's error with code, by its code or its
// shape name.
func (m *Model) errorShape(code string) *shape {
	if code == "" {
		return nil
	}
	for name, s := range m.shapes {
		if s.Error != nil && (s.Error.Code == code || s.Error.Code == "" && name == code) {
			return s
		}
	}
	return nil
}

// element checks the root's name, and that it and every element in it
// are in the model's namespace.
func (c *checker) element(n *node, want, path string) {
	if n.name.Local != want {
		c.fail(path, "root element is %s, want %s", n.name.Local, want)
	}
	c.namespace(path, n)
}

func (c *checker) namespace(path string, n *node) {
	if n.name.Space != c.m.namespace {
		c.fail(path, "element is in namespace %q, want xmlns=%q", n.name.Space, c.m.namespace)
		return // its children inherit it: one report is enough
	}
	for _, ch := range n.children {
		c.namespace(path+"/"+ch.name.Local, ch)
	}
}

// fields indexes n's children, which must be among names and each appear
// once.
func (c *checker) fields(path string, n *node, names ...string) map[string]*node {
	out := map[string]*node{}
	for _, ch := range n.children {
		p := path + "/" + ch.name.Local
		switch {
		case !slices.Contains(names, ch.name.Local):
			c.fail(p, "unknown element: %s holds only %s", path, strings.Join(names, ", "))
		case out[ch.name.Local] != nil:
			c.fail(p, "appears more than once")
		default:
			out[ch.name.Local] = ch
		}
	}
	return out
}

// text returns the text of the field name, which must be non-empty and
// without elements.
func (c *checker) text(path string, fields map[string]*node, name string) string {
	n := fields[name]
	p := path + "/" + name
	if n == nil {
		c.fail(path, "missing %s", name)
		return ""
	}
	if len(n.children) > 0 {
		c.fail(p, "holds elements, want text")
	}
	if strings.TrimSpace(n.text) == "" {
		c.fail(p, "is empty")
	}
	return n.text
}

func (c *checker) requestID(path string, meta *node) {
	c.noText(path, meta)
	c.text(path, c.fields(path, meta, "RequestId"), "RequestId")
}

// noText fails when a structure holds text besides whitespace.
func (c *checker) noText(path string, n *node) {
	if strings.TrimSpace(n.text) != "" {
		c.fail(path, "holds text besides its elements")
	}
}

// value checks n against the shape r refers to.
func (c *checker) value(path string, n *node, r *ref) {
	s := c.m.shapes[r.Shape]
	switch s.Type {
	case "structure":
		c.structure(path, n, s)
	case "list":
		c.noText(path, n)
		if r.Flattened || s.Flattened {
			// The parent gathered the elements; n is one of them.
			c.value(path, n, s.Member)
			return
		}
		name := wireName("member", s.Member)
		for i, ch := range n.children {
			p := fmt.Sprintf("%s/%s[%d]", path, ch.name.Local, i+1)
			if ch.name.Local != name {
				c.fail(p, "unknown element: list elements are <%s>", name)
				continue
			}
			c.value(p, ch, s.Member)
		}
		c.count(path, len(n.children), s)
	case "map":
		c.noText(path, n)
		if r.Flattened || s.Flattened {
			c.entry(path, n, s)
			return
		}
		for i, ch := range n.children {
			p := fmt.Sprintf("%s/%s[%d]", path, ch.name.Local, i+1)
			if ch.name.Local != "entry" {
				c.fail(p, "unknown element: map entries are <entry>")
				continue
			}
			c.entry(p, ch, s)
		}
		c.count(path, len(n.children), s)
	default:
		if len(n.children) > 0 {
			c.fail(path, "holds elements, but is a %s", s.Type)
			return
		}
		c.scalar(path, n.text, r, s)
	}
}

func (c *checker) structure(path string, n *node, s *shape) {
	c.noText(path, n)
	byWire := map[string]string{}
	for name, r := range s.Members {
		byWire[wireName(name, r)] = name
	}
	seen := map[string]int{}
	for _, ch := range n.children {
		name, ok := byWire[ch.name.Local]
		p := path + "/" + ch.name.Local
		if !ok {
			c.fail(p, "unknown element: the model's shape %s has no such member", shapeOf(c.m, s))
			continue
		}
		r := s.Members[name]
		ms := c.m.shapes[r.Shape]
		flat := (r.Flattened || ms.Flattened) && (ms.Type == "list" || ms.Type == "map")
		if seen[name]++; seen[name] > 1 && !flat {
			c.fail(p, "appears more than once")
			continue
		}
		if flat {
			p = fmt.Sprintf("%s[%d]", p, seen[name])
		}
		c.value(p, ch, r)
	}
	for _, name := range s.Required {
		if seen[name] == 0 {
			c.fail(path, "missing required member %s", wireName(name, s.Members[name]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Members)) {
		r := s.Members[name]
		ms := c.m.shapes[r.Shape]
		if (r.Flattened || ms.Flattened) && seen[name] > 0 {
			c.count(path+"/"+wireName(name, r), seen[name], ms)
		}
	}
}

// shapeOf names s for messages.
func shapeOf(m *Model, s *shape) string {
	for name, t := range m.shapes {
		if t == s {
			return name
		}
	}
	return "structure"
}

func (c *checker) entry(path string, n *node, s *shape) {
	c.noText(path, n)
	k, v := wireName("key", s.Key), wireName("value", s.Value)
	f := c.fields(path, n, k, v)
	if f[k] == nil {
		c.fail(path, "missing %s", k)
	} else {
		c.value(path+"/"+k, f[k], s.Key)
	}
	if f[v] == nil {
		c.fail(path, "missing %s", v)
	} else {
		c.value(path+"/"+v, f[v], s.Value)
	}
}

// count checks the number of a list's or map's elements.
func (c *checker) count(path string, n int, s *shape) {
	if lo := integer(s.Min); lo != nil && int64(n) < *lo {
		c.fail(path, "has %d elements, the model's minimum is %d", n, *lo)
	}
	if hi := integer(s.Max); hi != nil && int64(n) > *hi {
		c.fail(path, "has %d elements, the model's maximum is %d", n, *hi)
	}
}

func (c *checker) scalar(path, v string, r *ref, s *shape) {
	shown := strconv.Quote(v)
	if s.Sensitive {
		shown = "the (sensitive) value"
	}
	switch s.Type {
	case "string":
		n := int64(utf8.RuneCountInString(v))
		if lo := integer(s.Min); lo != nil && n < *lo {
			c.fail(path, "length %d is below the model's minimum length %d", n, *lo)
		}
		if hi := integer(s.Max); hi != nil && n > *hi {
			c.fail(path, "length %d is above the model's maximum length %d", n, *hi)
		}
		if s.re != nil && !s.re.MatchString(v) {
			c.fail(path, "%s does not match the model's pattern %s", shown, s.Pattern)
		}
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, v) {
			c.fail(path, "%s is not one of %q", shown, s.Enum)
		}
	case "boolean":
		if v != "true" && v != "false" {
			c.fail(path, "%s is not a boolean (true or false)", shown)
		}
	case "integer", "long", "short", "byte":
		bits := map[string]int{"integer": 32, "long": 64, "short": 16, "byte": 8}[s.Type]
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			c.fail(path, "%s is not a %d-bit decimal integer", shown, bits)
			return
		}
		c.bounds(path, float64(n), s)
	case "float", "double":
		switch v {
		case "NaN", "Infinity", "-Infinity":
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			c.fail(path, "%s is not a decimal number", shown)
			return
		}
		c.bounds(path, f, s)
	case "timestamp":
		format := r.TimestampFormat
		if format == "" {
			format = s.TimestampFormat
		}
		switch format {
		case "", "iso8601":
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				c.fail(path, "%s is not an ISO 8601 timestamp (2006-01-02T15:04:05Z)", shown)
			}
		case "unixTimestamp":
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				c.fail(path, "%s is not a Unix timestamp", shown)
			}
		case "rfc822":
			if _, err := time.Parse(time.RFC1123, v); err != nil {
				c.fail(path, "%s is not an RFC 822 timestamp", shown)
			}
		}
	case "blob":
		b, err := base64.StdEncoding.Strict().DecodeString(v)
		if err != nil {
			c.fail(path, "%s is not base64", shown)
			return
		}
		c.count(path, len(b), s)
	}
}

func (c *checker) bounds(path string, f float64, s *shape) {
	if lo := float(s.Min); lo != nil && f < *lo {
		c.fail(path, "%v is below the model's minimum %v", f, *lo)
	}
	if hi := float(s.Max); hi != nil && f > *hi {
		c.fail(path, "%v is above the model's maximum %v", f, *hi)
	}
}

// node is an XML element: its children and its text.
type node struct {
	name     xml.Name
	children []*node
	text     string
	buf      []byte // text, while reading
}

// parseXML reads one element, refusing DTDs, attributes other than
// namespace declarations and content after the root.
func parseXML(body []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var (
		stack []*node
		root  *node
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, fmt.Errorf("content after the root element: <%s>", t.Name.Local)
			}
			for _, a := range t.Attr {
				if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
					return nil, fmt.Errorf("<%s> has attribute %s; responses carry none", t.Name.Local, a.Name.Local)
				}
			}
			n := &node{name: t.Name}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.text, n.buf = string(n.buf), nil
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, errors.New("text outside the root element")
				}
				continue
			}
			n := stack[len(stack)-1]
			n.buf = append(n.buf, t...)
		case xml.Directive:
			return nil, errors.New("a DTD or other directive; responses carry none")
		case xml.ProcInst:
			if t.Target != "xml" || root != nil {
				return nil, fmt.Errorf("processing instruction %q", t.Target)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	return root, nil
}
