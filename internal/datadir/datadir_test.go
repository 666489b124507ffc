package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/config"
	"github.com/ztgate/ztgate/internal/secret"
)

func TestInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	d, err := Init(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(string(d))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "config.yaml,kek.key" {
		t.Fatalf("init created %v; want only config.yaml and kek.key", names)
	}
	for _, f := range []string{string(d), d.Config(), d.Path("kek.key")} {
		fi, _ := os.Stat(f)
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v: not owner-only", f, fi.Mode().Perm())
		}
	}
	if _, err := config.Load(d.Config()); err != nil {
		t.Fatalf("the example config does not load: %v", err)
	}
	k, err := secret.LoadKEKFrom(d.Path("kek.key"), func(string) string { return "" })
	if err != nil {
		t.Fatalf("the key does not load: %v", err)
	}
	// Nothing secret in plain text besides the key file itself.
	enc, _ := secret.EncodeKEK(k)
	cfg, _ := os.ReadFile(d.Config())
	if strings.Contains(string(cfg), strings.TrimSpace(string(enc))) {
		t.Fatal("the config holds the key")
	}
	// A second init never overwrites.
	before, _ := os.ReadFile(d.Path("kek.key"))
	if _, err := Init(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second init: %v", err)
	}
	after, _ := os.ReadFile(d.Path("kek.key"))
	if string(before) != string(after) {
		t.Fatal("second init changed the key")
	}
}

func TestInitCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	cmd := InitCommand()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ztgate serve --data-dir "+dir) {
		t.Fatalf("output: %q", out.String())
	}
}

func TestLock(t *testing.T) {
	d := Dir(t.TempDir())
	release, err := d.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(); !errors.Is(err, ErrInUse) {
		t.Fatalf("second lock: %v, want ErrInUse", err)
	}
	release()
	release2, err := d.Lock()
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release2()
}

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "listen.addr")
	for _, v := range []string{"first\n", "second\n"} {
		if err := WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != v {
			t.Fatalf("read %q, want %q", b, v)
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*tmp*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestResolve(t *testing.T) {
	d := Dir("/var/lib/ztgate")
	if got := d.Resolve("kek.key"); got != "/var/lib/ztgate/kek.key" {
		t.Error(got)
	}
	if got := d.Resolve("/etc/ztgate/kek.key"); got != "/etc/ztgate/kek.key" {
		t.Error(got)
	}
}
