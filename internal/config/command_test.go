package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the config command with args, as main would.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := Command()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// exitCode maps err to the status main would exit with.
func exitCode(err error) int {
	var exit *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	}
	return 1
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.yaml")
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(valid, []byte(Dev("127.0.0.1:8080")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(invalid, []byte("log:\n  level: loud\nfoo: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"valid", []string{"validate", valid}, 0, valid + ": valid\n", ""},
		{
			"invalid", []string{"validate", invalid}, 1, "",
			invalid + `:2:10: log.level: "loud" is not one of debug, info, warn, error` + "\n" +
				invalid + `:3:1: foo: unknown key "foo"` + "\n",
		},
		{"both", []string{"validate", valid, invalid}, 1, valid + ": valid\n", "log.level"},
		{"missing file", []string{"validate", filepath.Join(dir, "none.yaml")}, 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := run(t, tt.args...)
			if code := exitCode(err); code != tt.code {
				t.Errorf("exit code %d (err %v), want %d", code, err, tt.code)
			}
			if stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tt.stderr)
			}
			if strings.Contains(stdout+stderr, "Usage:") {
				t.Errorf("usage printed on a file error:\n%s%s", stdout, stderr)
			}
		})
	}
	t.Run("missing file error", func(t *testing.T) {
		_, _, err := run(t, "validate", filepath.Join(dir, "none.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want os.ErrNotExist for main to print", err)
		}
	})
	t.Run("no args", func(t *testing.T) {
		if _, _, err := run(t, "validate"); err == nil {
			t.Error("validate without a file succeeded")
		}
	})
}

func TestPrintCommands(t *testing.T) {
	for args, want := range map[string]string{"reference": Reference(), "example": Example()} {
		stdout, _, err := run(t, args)
		if err != nil || stdout != want {
			t.Errorf("config %s: err %v, output differs from the function: %t", args, err, stdout != want)
		}
	}
}
