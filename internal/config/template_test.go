package config

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var configType = reflect.TypeFor[Config]()

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
// types.
func TestExampleSetsEveryKey(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(Example()), &doc); err != nil {
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
			if v.Kind == yaml.MappingNode {
				walk(v, p)
				continue
			}
			set[p] = true
		}
	}
	walk(doc.Content[0], "")
	want := map[string]bool{}
	for _, l := range leaves(configType, "") {
		want[l.path] = true
		if !set[l.path] {
			t.Errorf("Example does not set %s", l.path)
		}
	}
	for p := range set {
		if !want[p] {
			t.Errorf("Example sets %s, which is not a key", p)
		}
	}
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
