package awsquery_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/awsquery"
	"github.com/ztgate/ztgate/internal/conformance"
)

// inputQueryFile locates botocore's query-protocol input tests, read in
// place. Without them the test skips, unless the corpus was asked for.
func inputQueryFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(conformance.Root(), "sts", "botocore-query-protocol-tests", "input-query.json")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv(conformance.Env) != "" {
			t.Fatalf("awsquery: input-query conformance corpus missing although %s is set: %v", conformance.Env, err)
		}
		t.Skipf("awsquery: input-query conformance corpus not found at %s (set %s to run it): %v", path, conformance.Env, err)
	}
	return path
}

// protoSuite is one operation's cases in botocore's protocol-test format.
type protoSuite struct {
	Description string `json:"description"`
	Metadata    struct {
		APIVersion string `json:"apiVersion"`
	} `json:"metadata"`
	Shapes map[string]*protoShape `json:"shapes"`
	Cases  []protoCase            `json:"cases"`
}

type protoShape struct {
	Type            string               `json:"type"`
	Members         map[string]*protoRef `json:"members"`
	Member          *protoRef            `json:"member"`
	Key             *protoRef            `json:"key"`
	Value           *protoRef            `json:"value"`
	Enum            []string             `json:"enum"`
	Flattened       bool                 `json:"flattened"`
	TimestampFormat string               `json:"timestampFormat"`
}

type protoRef struct {
	Shape           string `json:"shape"`
	LocationName    string `json:"locationName"`
	Flattened       bool   `json:"flattened"`
	TimestampFormat string `json:"timestampFormat"`
}

type protoCase struct {
	ID    string `json:"id"`
	Given struct {
		Name  string `json:"name"`
		Input *struct {
			Shape string `json:"shape"`
		} `json:"input"`
	} `json:"given"`
	Params     map[string]any `json:"params"`
	Serialized struct {
		Body *string `json:"body"`
	} `json:"serialized"`
}

// serverInapplicable lists the cases a server cannot check, and why.
// Every entry must name a case in the corpus.
var serverInapplicable = map[string]string{
	"SDKAppliedContentEncoding_awsQuery":                    "request compression: the case carries only the client's Content-Encoding header, no body; decompressing is the HTTP layer's job, not the form decoder's",
	"SDKAppendsGzipAndIgnoresHttpProvidedEncoding_awsQuery": "request compression: the case carries only the client's Content-Encoding header, no body; decompressing is the HTTP layer's job, not the form decoder's",
	"QueryProtocolIdempotencyTokenAutoFill":                 "the client invents the token when the caller gave none (params {} but token=... on the wire); a server sees an ordinary token and cannot tell",
	"QueryEmptyQueryMaps":                                   "an empty map is not serialised at all, so the server receives no MapArg: there is nothing to decode, and absent cannot be told from empty",
}

// TestInputQueryConformance runs botocore's query-protocol input cases in
// reverse: it parses each serialised body with Parse and, guided by the
// case's shapes, rebuilds the parameters the client meant with List,
// Structs, Map and Sub, then compares them with the case's params.
func TestInputQueryConformance(t *testing.T) {
	raw, err := os.ReadFile(inputQueryFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var suites []protoSuite
	if err := json.Unmarshal(raw, &suites); err != nil {
		t.Fatal(err)
	}
	var total, pass int
	var skipped []string
	seen := map[string]bool{}
	for _, s := range suites {
		for _, c := range s.Cases {
			total++
			seen[c.ID] = true
			t.Run(c.ID, func(t *testing.T) {
				if reason, ok := serverInapplicable[c.ID]; ok {
					skipped = append(skipped, c.ID)
					t.Skipf("cannot apply to a server: %s", reason)
				}
				if c.Serialized.Body == nil {
					t.Fatalf("no serialised body, and not listed in serverInapplicable")
				}
				got, err := reverse(s, c)
				if err != nil {
					t.Fatalf("body %q: %v", *c.Serialized.Body, err)
				}
				want := c.Params
				if want == nil {
					want = map[string]any{}
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("body %q\n decoded %#v\n want    %#v", *c.Serialized.Body, got, want)
				}
				pass++
			})
		}
	}
	for id := range serverInapplicable {
		if !seen[id] {
			t.Errorf("serverInapplicable lists %s, which the corpus does not have", id)
		}
	}
	slices.Sort(skipped)
	line := fmt.Sprintf("awsquery: input-query conformance: %d/%d cases pass (%d skipped: %s)",
		pass, total, len(skipped), strings.Join(skipped, ", "))
	t.Log(line)
	fmt.Println(line)
	if pass+len(skipped) != total {
		t.Errorf("%d cases neither pass nor are listed as inapplicable", total-pass-len(skipped))
	}
}

// reverse parses the case's body and rebuilds its params.
func reverse(s protoSuite, c protoCase) (map[string]any, error) {
	p, err := awsquery.Parse([]byte(*c.Serialized.Body))
	if err != nil {
		return nil, err
	}
	if got := p.Get("Action"); got != c.Given.Name {
		return nil, fmt.Errorf("Action = %q, want %q", got, c.Given.Name)
	}
	if got := p.Get("Version"); got != s.Metadata.APIVersion {
		return nil, fmt.Errorf("Version = %q, want %q", got, s.Metadata.APIVersion)
	}
	if c.Given.Input == nil {
		if p.Len() != 2 {
			return nil, fmt.Errorf("operation without input got %q", p.Names())
		}
		return map[string]any{}, nil
	}
	input := s.Shapes[c.Given.Input.Shape]
	// Every parameter must belong to a member: what a handler's
	// unknown-parameter check does with Names.
	known := map[string]bool{"Action": true, "Version": true}
	for name, ref := range input.Members {
		known[wireName(name, ref)] = true
	}
	for _, n := range p.Names() {
		if top, _, _ := strings.Cut(n, "."); !known[top] {
			return nil, fmt.Errorf("unknown parameter %q", n)
		}
	}
	d := decoder{s.Shapes}
	return d.structure(p, input)
}

func wireName(member string, ref *protoRef) string {
	if ref.LocationName != "" {
		return ref.LocationName
	}
	return member
}

// decoder rebuilds values of a suite's shapes from Params, in the types
// encoding/json gives the case's params.
type decoder struct{ shapes map[string]*protoShape }

func (d decoder) structure(p awsquery.Params, s *protoShape) (map[string]any, error) {
	out := map[string]any{}
	for name, ref := range s.Members {
		v, ok, err := d.value(p, wireName(name, ref), ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if ok {
			out[name] = v
		}
	}
	return out, nil
}

// value decodes the member name of p, of ref's shape; ok is false when it
// is absent.
func (d decoder) value(p awsquery.Params, name string, ref *protoRef) (any, bool, error) {
	s := d.shapes[ref.Shape]
	if s == nil {
		return nil, false, fmt.Errorf("unknown shape %q", ref.Shape)
	}
	flattened := ref.Flattened || s.Flattened
	switch s.Type {
	case "structure":
		sub := p.Sub(name)
		if sub.Len() == 0 {
			return nil, false, nil
		}
		v, err := d.structure(sub, s)
		return v, true, err
	case "list":
		return d.list(p, name, s, flattened)
	case "map":
		return d.mapValue(p, name, s, flattened)
	default:
		if !p.Has(name) {
			return nil, false, nil
		}
		v, err := d.scalar(p.Get(name), s, ref)
		return v, true, err
	}
}

func (d decoder) list(p awsquery.Params, name string, s *protoShape, flattened bool) (any, bool, error) {
	base := name
	if !flattened && s.Member.LocationName != "" {
		// name.item.N: the flattened form of the list under name.item.
		// Only an empty list is sent bare, as name=.
		if p.Has(name) && p.Get(name) == "" && p.Sub(name).Len() == 0 {
			return []any{}, true, nil
		}
		base = name + "." + s.Member.LocationName
	}
	es := d.shapes[s.Member.Shape]
	switch es.Type {
	case "structure":
		els, err := p.Structs(base)
		if err != nil || els == nil {
			return nil, false, err
		}
		out := make([]any, len(els))
		for i, el := range els {
			if out[i], err = d.structure(el, es); err != nil {
				return nil, false, err
			}
		}
		return out, true, nil
	case "list", "map":
		return nil, false, fmt.Errorf("lists of %ss are not in this corpus", es.Type)
	}
	els, err := p.List(base)
	if err != nil || els == nil {
		return nil, false, err
	}
	out := make([]any, len(els))
	for i, el := range els {
		if out[i], err = d.scalar(el, es, s.Member); err != nil {
			return nil, false, err
		}
	}
	return out, true, nil
}

func (d decoder) mapValue(p awsquery.Params, name string, s *protoShape, flattened bool) (any, bool, error) {
	keyName, valueName := "key", "value"
	if s.Key.LocationName != "" {
		keyName = s.Key.LocationName
	}
	if s.Value.LocationName != "" {
		valueName = s.Value.LocationName
	}
	vs := d.shapes[s.Value.Shape]
	if keyName == "key" && valueName == "value" && vs.Type == "string" {
		// The common case, read with Map: it takes both forms.
		m, err := p.Map(name)
		if err != nil || m == nil {
			return nil, false, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out, true, nil
	}
	entriesOf := name + ".entry"
	if flattened {
		entriesOf = name
	}
	entries, err := p.Structs(entriesOf)
	if err != nil || entries == nil {
		return nil, false, err
	}
	out := make(map[string]any, len(entries))
	for i, e := range entries {
		if !e.Has(keyName) {
			return nil, false, fmt.Errorf("entry %d has no %s", i+1, keyName)
		}
		v, ok, err := d.value(e, valueName, s.Value)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, fmt.Errorf("entry %d has no %s", i+1, valueName)
		}
		out[e.Get(keyName)] = v
	}
	return out, true, nil
}

// scalar converts a wire value to the JSON value botocore's params use.
func (d decoder) scalar(v string, s *protoShape, ref *protoRef) (any, error) {
	switch s.Type {
	case "string":
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, v) {
			return nil, fmt.Errorf("%q is not one of %q", v, s.Enum)
		}
		return v, nil
	case "boolean":
		switch v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("boolean %q", v)
	case "integer", "long", "short", "byte":
		n, err := strconv.ParseInt(v, 10, 64)
		return float64(n), err
	case "float", "double":
		switch v {
		case "NaN", "Infinity", "-Infinity": // how Smithy spells them
			return v, nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err == nil && strings.ContainsAny(v, "iInN") {
			err = fmt.Errorf("non-finite float spelt %q", v)
		}
		return f, err
	case "blob":
		b, err := base64.StdEncoding.Strict().DecodeString(v)
		return string(b), err
	case "timestamp":
		format := ref.TimestampFormat
		if format == "" {
			format = s.TimestampFormat
		}
		switch format {
		case "unixTimestamp":
			return strconv.ParseFloat(v, 64)
		case "", "iso8601":
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, err
			}
			return float64(tm.UnixNano()) / 1e9, nil
		}
		return nil, fmt.Errorf("timestamp format %q", format)
	}
	return nil, fmt.Errorf("shape type %q", s.Type)
}
