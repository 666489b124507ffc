package buildinfo

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	var out bytes.Buffer
	cmd := Command()
	cmd.SetOut(&out)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := []string{"ztgate " + version + "\n", "commit: ", "go: " + runtime.Version()}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output %q lacks %q", out.String(), w)
		}
	}
	out.Reset()
	cmd.SetArgs([]string{"--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var i Info
	if err := json.Unmarshal(out.Bytes(), &i); err != nil || i.Version != version || i.Go != runtime.Version() || i.Commit == "" {
		t.Fatalf("json: %q %v", out.String(), err)
	}
}
