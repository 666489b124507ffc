package keys

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite docs/policy.md from Reference()")

const referencePath = "../../../docs/policy.md"

// TestReferenceUpToDate keeps docs/policy.md equal to Reference().
func TestReferenceUpToDate(t *testing.T) {
	got := Reference()
	if *update {
		if err := os.WriteFile(referencePath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referencePath)
	if err != nil || string(want) != got {
		t.Fatalf("docs/policy.md is out of date with internal/policy/keys (%v); regenerate it with\n"+
			"\tgo test ./internal/policy/keys -run TestReferenceUpToDate -update", err)
	}
}

// TestReferenceListsEveryKey checks that each key and each operator has
// its place in the reference.
func TestReferenceListsEveryKey(t *testing.T) {
	ref := Reference()
	for _, k := range Catalogue() {
		name := k.Name
		if k.Prefix {
			name += "<key>"
		}
		row := "| `" + name + "` | " + string(k.Type) + " | "
		if !strings.Contains(ref, row) {
			t.Errorf("reference has no row starting %q", row)
		}
	}
	for _, n := range NeverSet() {
		if !strings.Contains(ref, "`"+n+"`") {
			t.Errorf("reference does not say that %s is never set", n)
		}
	}
	for _, typ := range Types() {
		for _, op := range typ.Operators() {
			if !strings.Contains(ref, "`"+op+"`") {
				t.Errorf("reference does not list the operator %s", op)
			}
		}
	}
}

// keyRef finds condition keys named in text: aws:… or zt:… not inside an
// ARN (arn:zt:iam::…).
var keyRef = regexp.MustCompile(`(?:^|[^:\w])((?:aws|zt):[A-Za-z0-9]+(?:/[\w<>-]*)?)`)

// TestReferenceNamesOnlyKnownKeys catches prose that names a key the
// catalogue lacks, or misspells one.
func TestReferenceNamesOnlyKnownKeys(t *testing.T) {
	never := NeverSet()
	for _, m := range keyRef.FindAllStringSubmatch(Reference(), -1) {
		name := m[1]
		if _, ok := Lookup(name); ok || slices.Contains(never, name) {
			continue
		}
		t.Errorf("the reference names %s, which is neither in the catalogue nor listed as never set", name)
	}
}

// codeBlocks returns the bodies of the reference's fenced blocks in lang.
func codeBlocks(doc, lang string) []string {
	var out []string
	rest := doc
	for {
		_, after, ok := strings.Cut(rest, "```"+lang+"\n")
		if !ok {
			return out
		}
		body, tail, _ := strings.Cut(after, "```")
		out = append(out, body)
		rest = tail
	}
}

// simRequest holds the documented fields of a request document.
type simRequest struct {
	Principal           string              `json:"principal"`
	Action              string              `json:"action"`
	Resource            string              `json:"resource"`
	ResourceAccount     string              `json:"resourceAccount"`
	Context             map[string]any      `json:"context"`
	IdentityPolicies    []json.RawMessage   `json:"identityPolicies"`
	ResourcePolicy      json.RawMessage     `json:"resourcePolicy"`
	PermissionsBoundary json.RawMessage     `json:"permissionsBoundary"`
	SessionPolicy       json.RawMessage     `json:"sessionPolicy"`
	Guardrails          [][]json.RawMessage `json:"guardrails"`
	ResourceGuardrails  [][]json.RawMessage `json:"resourceGuardrails"`
	EndpointPolicies    []json.RawMessage   `json:"endpointPolicies"`
}

// testFile holds the documented fields of a policy test file.
type testFile struct {
	Policies map[string]any `yaml:"policies"`
	Tests    []struct {
		Name                string         `yaml:"name"`
		Principal           string         `yaml:"principal"`
		Action              string         `yaml:"action"`
		Resource            string         `yaml:"resource"`
		ResourceAccount     string         `yaml:"resourceAccount"`
		Context             map[string]any `yaml:"context"`
		IdentityPolicies    []string       `yaml:"identityPolicies"`
		ResourcePolicy      string         `yaml:"resourcePolicy"`
		PermissionsBoundary string         `yaml:"permissionsBoundary"`
		SessionPolicy       string         `yaml:"sessionPolicy"`
		Guardrails          [][]string     `yaml:"guardrails"`
		ResourceGuardrails  [][]string     `yaml:"resourceGuardrails"`
		Expect              string         `yaml:"expect"`
		Matched             []string       `yaml:"matched"`
	} `yaml:"tests"`
}

// TestReferenceExamples checks that the examples are well formed and use
// only the fields the reference documents.
func TestReferenceExamples(t *testing.T) {
	ref := Reference()
	jsonBlocks := codeBlocks(ref, "json")
	if len(jsonBlocks) < 5 {
		t.Fatalf("found %d JSON examples; is the fence syntax still ```json?", len(jsonBlocks))
	}
	requests := 0
	for _, b := range jsonBlocks {
		if !json.Valid([]byte(b)) {
			t.Errorf("invalid JSON example:\n%s", b)
			continue
		}
		if !strings.Contains(b, `"principal"`) {
			continue
		}
		requests++
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		var r simRequest
		if err := dec.Decode(&r); err != nil {
			t.Errorf("request example: %v", err)
		}
		if r.Principal == "" || r.Action == "" || r.Resource == "" {
			t.Error("request example lacks a required field")
		}
	}
	if requests == 0 {
		t.Error("no request document example")
	}

	yamlBlocks := codeBlocks(ref, "yaml")
	if len(yamlBlocks) == 0 {
		t.Fatal("no policy test example")
	}
	for _, b := range yamlBlocks {
		dec := yaml.NewDecoder(strings.NewReader(b))
		dec.KnownFields(true)
		var f testFile
		if err := dec.Decode(&f); err != nil {
			t.Errorf("policy test example: %v", err)
			continue
		}
		for _, tc := range f.Tests {
			if tc.Principal == "" || tc.Action == "" || tc.Resource == "" {
				t.Errorf("%s: lacks a required field", tc.Name)
			}
			if !slices.Contains([]string{"allowed", "explicitDeny", "implicitDeny"}, tc.Expect) {
				t.Errorf("%s: expect %q", tc.Name, tc.Expect)
			}
			names := slices.Clone(tc.IdentityPolicies)
			for _, l := range append(tc.Guardrails, tc.ResourceGuardrails...) {
				names = append(names, l...)
			}
			for _, m := range tc.Matched {
				p, _, _ := strings.Cut(m, "/")
				p, _, _ = strings.Cut(p, "#")
				names = append(names, p)
			}
			for _, n := range names {
				if _, ok := f.Policies[n]; !ok {
					t.Errorf("%s: names the policy %q, which the file does not define", tc.Name, n)
				}
			}
			for k := range tc.Context {
				if _, ok := Lookup(k); !ok {
					t.Errorf("%s: context key %s is not in the catalogue", tc.Name, k)
				}
			}
		}
	}
}

// TestReferenceIsPlainText guards against template slips: no unexpanded
// actions, no "<no value>", and a trailing newline.
func TestReferenceIsPlainText(t *testing.T) {
	ref := Reference()
	for _, bad := range []string{"{{", "<no value>", "%!"} {
		if strings.Contains(ref, bad) {
			t.Errorf("reference contains %q", bad)
		}
	}
	if !strings.HasSuffix(ref, "\n") || strings.HasSuffix(ref, "\n\n") {
		t.Error("reference should end in exactly one newline")
	}
	if !bytes.HasPrefix([]byte(ref), []byte("# ")) {
		t.Error("reference should start with its title")
	}
}
