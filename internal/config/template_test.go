package config

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestExampleParses(t *testing.T) {
	c, err := Parse("example.yaml", []byte(Example()))
	if err != nil {
		t.Fatalf("Example does not parse:\n%v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Example sets %+v, want the defaults %+v", c, Default())
	}
}

// TestExampleSetsEveryKey reads the example as plain YAML and checks that
// it sets every key, each below a comment, so it cannot fall behind the
// types. The keys of the elements of lists are in the commented-out
// samples instead, which TestSample checks.
func TestExampleSetsEveryKey(t *testing.T) {
	set := keysSet(t, Example())
	for _, l := range leaves(configType, "") {
		if strings.Contains(l.path, "[]") {
			if set[l.path] {
				t.Errorf("Example sets %s, in an element of a list that should be empty", l.path)
			}
			continue
		}
		if !set[l.path] {
			t.Errorf("Example does not set %s", l.path)
		}
		delete(set, l.path)
	}
	for p := range set {
		t.Errorf("Example sets %s, which is not a key", p)
	}
}

// TestSample checks that the samples of the example, uncommented, form a
// valid configuration that sets every key, each below a comment: a user
// can start from them without meeting an error.
func TestSample(t *testing.T) {
	var b strings.Builder
	example(&b, configType, "", style{docs: true, sample: true})
	c, err := Parse("sample.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("the sample is invalid:\n%v\n%s", err, b.String())
	}
	if len(c.IAM.Roles) != 1 || c.IAM.Roles[0].Name != "deployer" || len(c.STS.WebIdentity.Issuers) != 1 {
		t.Errorf("the sample lacks its elements: %+v", c)
	}
	set := keysSet(t, b.String())
	for _, l := range leaves(configType, "") {
		if !set[l.path] {
			t.Errorf("the sample does not set %s", l.path)
		}
		delete(set, l.path)
	}
	for p := range set {
		t.Errorf("the sample sets %s, which is not a key", p)
	}

	// Example shows the same sample, commented out, above each list.
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(Example()), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if v.Kind == yaml.MappingNode {
				walk(v, p)
				continue
			}
			if v.Kind == yaml.SequenceNode && !strings.Contains(k.HeadComment, "# For example:\n#\n#   "+k.Value+":\n#     - ") {
				t.Errorf("Example has no sample above %s:\n%s", p, k.HeadComment)
			}
		}
	}
	walk(doc.Content[0], "")
}

// keysSet parses the YAML src and returns the paths of the keys it sets,
// the keys in the mappings of sequences named with [], checking that each
// key has a comment above it.
func keysSet(t *testing.T, src string) map[string]bool {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if k.HeadComment == "" {
				t.Errorf("%s has no comment", p)
			}
			switch {
			case v.Kind == yaml.MappingNode:
				walk(v, p)
				continue
			case v.Kind == yaml.SequenceNode:
				for _, e := range v.Content {
					if e.Kind == yaml.MappingNode {
						walk(e, p+"[]")
					}
				}
			}
			set[p] = true
		}
	}
	walk(doc.Content[0], "")
	return set
}

func TestDev(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:8080", ":0", "[::1]:9000", "localhost:8080 # not a comment"} {
		c, err := Parse("dev.yaml", []byte(Dev(listen)))
		if listen == "localhost:8080 # not a comment" {
			// Must read back as the string given, which is then not a
			// valid address: the quoting kept the "#".
			if err == nil || !strings.Contains(err.Error(), "# not a comment") {
				t.Errorf("Dev(%q) does not round-trip: %v", listen, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Dev(%q) does not parse:\n%v", listen, err)
		}
		if c.Listen != listen || c.Store.Driver != "sqlite" || c.Log.Format != "auto" || c.Log.Level != "info" {
			t.Errorf("Dev(%q) = %+v", listen, c)
		}
	}
}

func TestYAMLString(t *testing.T) {
	for _, s := range []string{"", "a", "a: b", "- x", "#", "line\nbreak", "'q'", `"dq"`, "~", "null", "true", "10", "tab\there", " lead"} {
		var got string
		if err := yaml.Unmarshal([]byte("v: "+yamlString(s)), &struct{ V *string }{&got}); err != nil {
			t.Errorf("yamlString(%q) = %s: %v", s, yamlString(s), err)
			continue
		}
		if got != s {
			t.Errorf("yamlString(%q) = %s reads back as %q", s, yamlString(s), got)
		}
	}
}
