package authz

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// TestFile is a file of policy tests (*_test.yaml or *_test.json in a
// policy directory): named policies, and requests with the decision each
// must get. docs/policy.md describes it.
type TestFile struct {
	Policies map[string]yaml.Node `yaml:"policies"`
	Tests    []PolicyTest         `yaml:"tests"`
}

// PolicyTest is one expected decision.
type PolicyTest struct {
	Name               string               `yaml:"name"`
	Principal          string               `yaml:"principal"`
	Action             string               `yaml:"action"`
	Resource           string               `yaml:"resource"`
	ResourceAccount    string               `yaml:"resourceAccount"`
	Context            map[string]yaml.Node `yaml:"context"`
	IdentityPolicies   []string             `yaml:"identityPolicies"`
	ResourcePolicy     string               `yaml:"resourcePolicy"`
	PermissionBoundary string               `yaml:"permissionsBoundary"`
	SessionPolicy      string               `yaml:"sessionPolicy"`
	Guardrails         [][]string           `yaml:"guardrails"`
	ResourceGuardrails [][]string           `yaml:"resourceGuardrails"`
	Expect             string               `yaml:"expect"`
	Matched            []string             `yaml:"matched"` // "policy/sid" or "policy#index"; optional
	Extra              map[string]any       `yaml:",inline"`
}

// TestResult is the outcome of one policy test.
type TestResult struct {
	File, Name string
	Err        error // the test could not run
	Want, Got  string
	Diff       []string // what differed, one line each
}

// Failed reports whether the test failed.
func (r TestResult) Failed() bool { return r.Err != nil || len(r.Diff) > 0 }

// loadPolicies reads the named policies of a test file: a path relative to
// the file, or an inline document.
func loadPolicies(dir string, nodes map[string]yaml.Node) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for name, n := range nodes {
		if n.Kind == yaml.ScalarNode {
			data, err := os.ReadFile(filepath.Join(dir, n.Value))
			if err != nil {
				return nil, fmt.Errorf("policy %q: %w", name, err)
			}
			out[name] = data
			continue
		}
		v, err := plainYAML(&n)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", name, err)
		}
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", name, err)
		}
		out[name] = data
	}
	return out, nil
}

// plainYAML turns an inline policy written in YAML into the JSON value it
// stands for, reading every scalar YAML would take for a date or another
// type JSON lacks (Version: 2012-10-17) as the text written.
func plainYAML(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return plainYAML(n.Content[0])
	case yaml.AliasNode:
		return plainYAML(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: key %q is given twice", n.Content[i].Line, k)
			}
			v, err := plainYAML(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := plainYAML(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	case "!!int", "!!float":
		if json.Valid([]byte(n.Value)) {
			return json.Number(n.Value), nil
		}
	}
	return n.Value, nil
}

// contextText reads a context value of a policy test as written: a
// scalar's text, or a list of them. YAML would read 0x10 as 16 and an
// unquoted date as a time; a condition compares the text.
func contextText(n *yaml.Node) (any, error) {
	scalar := func(n *yaml.Node) (string, error) {
		if n.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("line %d: want a string or a list of strings", n.Line)
		}
		if n.ShortTag() == "!!null" {
			return "", fmt.Errorf("line %d: null is no value; leave the key out for a missing key", n.Line)
		}
		return n.Value, nil
	}
	if n.Kind == yaml.SequenceNode {
		l := make([]string, len(n.Content))
		for i, c := range n.Content {
			s, err := scalar(c)
			if err != nil {
				return nil, err
			}
			l[i] = s
		}
		return l, nil
	}
	return scalar(n)
}

// RunTestFile runs the tests of one file.
func RunTestFile(path string, now time.Time) ([]TestResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tf TestFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pols, err := loadPolicies(filepath.Dir(path), tf.Policies)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var results []TestResult
	for i, t := range tf.Tests {
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i+1)
		}
		res := TestResult{File: path, Name: name, Want: t.Expect}
		res.Got, res.Diff, res.Err = runPolicyTest(&t, pols, now)
		results = append(results, res)
	}
	return results, nil
}

func runPolicyTest(t *PolicyTest, pols map[string]json.RawMessage, now time.Time) (string, []string, error) {
	if len(t.Extra) > 0 {
		var ks []string
		for k := range t.Extra {
			ks = append(ks, k)
		}
		return "", nil, fmt.Errorf("unknown fields %v", ks)
	}
	switch t.Expect {
	case "allowed", "explicitDeny", "implicitDeny":
	default:
		return "", nil, fmt.Errorf("expect: %q, want allowed, explicitDeny or implicitDeny", t.Expect)
	}
	var missing []string
	get := func(name string) json.RawMessage {
		if name == "" {
			return nil
		}
		p, ok := pols[name]
		if !ok {
			missing = append(missing, name)
		}
		return p
	}
	list := func(names []string) []json.RawMessage {
		var out []json.RawMessage
		for _, n := range names {
			out = append(out, get(n))
		}
		return out
	}
	sr := SimRequest{
		Principal: t.Principal, Action: t.Action, Resource: t.Resource, ResourceAccount: t.ResourceAccount,
		IdentityPolicies: list(t.IdentityPolicies), ResourcePolicy: get(t.ResourcePolicy),
		PermissionBoundary: get(t.PermissionBoundary), SessionPolicy: get(t.SessionPolicy),
	}
	for _, l := range t.Guardrails {
		sr.Guardrails = append(sr.Guardrails, list(l))
	}
	for _, l := range t.ResourceGuardrails {
		sr.ResourceGuardrails = append(sr.ResourceGuardrails, list(l))
	}
	if len(missing) > 0 {
		return "", nil, fmt.Errorf("no policies named %v in this file", missing)
	}
	if t.Context != nil {
		sr.Context = SimContext{}
		for k, n := range t.Context {
			v, err := contextText(&n)
			if err != nil {
				return "", nil, fmt.Errorf("context key %q: %w", k, err)
			}
			sr.Context[k], _ = json.Marshal(v)
		}
	}
	raw, _ := json.Marshal(sr)
	if _, err := ParseSimRequest(raw); err != nil {
		return "", nil, err
	}
	r, ps, err := sr.Build(now)
	if err != nil {
		return "", nil, err
	}
	rename := func(s *Set, names []string) {
		if s != nil {
			for i, p := range s.Policies {
				if i < len(names) {
					p.Name = names[i]
				}
			}
		}
	}
	rename(ps.Identity, t.IdentityPolicies)
	rename(ps.Resource, []string{t.ResourcePolicy})
	rename(ps.Boundary, []string{t.PermissionBoundary})
	rename(ps.Session, []string{t.SessionPolicy})
	for i, s := range ps.Guardrails {
		rename(s, t.Guardrails[i])
	}
	for i, s := range ps.ResourceGuardrails {
		rename(s, t.ResourceGuardrails[i])
	}
	d := Evaluate(r, ps)
	got := d.Effect.String()
	var diff []string
	if got != t.Expect {
		line := fmt.Sprintf("decision: want %s, got %s", t.Expect, got)
		if d.BlockedBy != NoLayer {
			line += " (blocked by the " + d.BlockedBy.String() + " policies)"
		}
		diff = append(diff, line)
	}
	if t.Matched != nil {
		var gotM []string
		for _, s := range d.Matched() {
			gotM = append(gotM, statementName(s))
		}
		sort.Strings(gotM)
		want := append([]string(nil), t.Matched...)
		sort.Strings(want)
		if strings.Join(gotM, ",") != strings.Join(want, ",") {
			diff = append(diff, fmt.Sprintf("matched: want [%s], got [%s]", strings.Join(want, ", "), strings.Join(gotM, ", ")))
		}
	}
	return got, diff, nil
}

// statementName names a statement as tests do: policy/sid, or
// policy#index when it has no Sid.
func statementName(s *Statement) string {
	if s.Sid != "" {
		return s.Policy.Name + "/" + s.Sid
	}
	return fmt.Sprintf("%s#%d", s.Policy.Name, s.Index)
}

// FindTestFiles returns the policy test files under dir.
func FindTestFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n := d.Name()
		if !d.IsDir() && (strings.HasSuffix(n, "_test.yaml") || strings.HasSuffix(n, "_test.yml") || strings.HasSuffix(n, "_test.json")) {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func testCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test DIR",
		Short: "Run the policy tests (*_test.yaml, *_test.json) under DIR",
		Long: `Run the policy tests kept beside your policies: files named *_test.yaml
(or .yml, or *_test.json) under DIR, each naming policies and the decision
each request must get (format in docs/policy.md). Prints each failure with
what differed; exit 0 when all pass, 1 when any fails, 2 when a test file
cannot be read.`,
		Example: "  ztgate policy test ./policies",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			files, err := FindTestFiles(args[0])
			if err != nil {
				fmt.Fprintln(errOut, err)
				return &ExitError{exitInput}
			}
			if len(files) == 0 {
				fmt.Fprintf(errOut, "no policy tests (*_test.yaml, *_test.json) under %s\n", args[0])
				return &ExitError{exitInput}
			}
			var passed, failed int
			now := time.Now()
			for _, f := range files {
				results, err := RunTestFile(f, now)
				if err != nil {
					fmt.Fprintln(errOut, err)
					return &ExitError{exitInput}
				}
				for _, r := range results {
					if !r.Failed() {
						passed++
						continue
					}
					failed++
					fmt.Fprintf(out, "--- FAIL: %s: %s\n", r.File, r.Name)
					if r.Err != nil {
						fmt.Fprintf(out, "    error: %v\n", r.Err)
					}
					for _, d := range r.Diff {
						fmt.Fprintf(out, "    %s\n", d)
					}
				}
			}
			fmt.Fprintf(out, "policy tests: %d passed, %d failed\n", passed, failed)
			if failed > 0 {
				return &ExitError{exitProblems}
			}
			return nil
		},
	}
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd
}
