package config

import (
	"os"
	"strings"
	"testing"
)

const referencePath = "../../docs/config.md"

// TestReferenceUpToDate keeps docs/config.md equal to Reference().
func TestReferenceUpToDate(t *testing.T) {
	got := Reference()
	if *update {
		if err := os.MkdirAll("../../docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(referencePath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referencePath)
	if err != nil || string(want) != got {
		t.Fatalf("docs/config.md is out of date with the struct tags in internal/config/types.go (%v); regenerate it with\n"+
			"\tgo test ./internal/config -run TestReferenceUpToDate -update", err)
	}
}

// TestReferenceListsEveryKey checks that the reference has a row for each
// key, with its type and default.
func TestReferenceListsEveryKey(t *testing.T) {
	ref := Reference()
	for _, l := range leaves(configType, "") {
		row := "| `" + l.path + "` | " + typeName(l.typ)
		if !strings.Contains(ref, row) {
			t.Errorf("reference has no row starting %q", row)
		}
		if l.hasDef && !strings.Contains(ref, "`"+l.def+"`") {
			t.Errorf("reference lacks the default of %s", l.path)
		}
	}
}
