package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
)

func runVerifyTest(t *testing.T, f verifyFlags) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runVerify(t.Context(), f, &out, &errb)
	var ee *ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.Code
	default:
		t.Fatalf("runVerify: %v", err)
	}
	return out.String(), errb.String(), code
}

func TestVerifyCommand(t *testing.T) {
	dataDir := t.TempDir()
	kek := testKEK(t)
	o := Options{Dir: filepath.Join(dataDir, DirName), Node: "gw-1", KEK: kek}
	writeLog(t, o, 5)
	writeLog(t, o, 5)

	out, _, code := runVerifyTest(t, verifyFlags{dataDir: dataDir})
	if code != 0 || !strings.Contains(out, "OK: the audit log verifies") || !strings.Contains(out, "10 records") {
		t.Errorf("clean log: exit %d\n%s", code, out)
	}

	out, _, code = runVerifyTest(t, verifyFlags{dataDir: dataDir, json: true})
	var rep struct {
		Report
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK || rep.Records != 10 || rep.Findings == nil {
		t.Errorf("--json: exit %d, %v\n%s", code, err, out)
	}

	seg := filepath.Join(o.Dir, "gw-1", segmentsDir, segmentName(6))
	lines := readLines(t, seg)
	writeLines(t, seg, append(lines[:2:2], lines[3:]...))
	out, _, code = runVerifyTest(t, verifyFlags{dataDir: dataDir})
	want := "error: deleted-record: gw-1/segments/" + segmentName(6) + ":3: seq 8 is missing"
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "FAILED: 1 error(s)") {
		t.Errorf("tampered log: exit %d, want 1 and %q\n%s", code, want, out)
	}

	// The damage is outside the window: nothing is wrong within it.
	if _, _, code = runVerifyTest(t, verifyFlags{dataDir: dataDir, to: "2000-01-01"}); code != 0 {
		t.Errorf("--to before the log: exit %d", code)
	}
	if _, errOut, code := runVerifyTest(t, verifyFlags{dataDir: dataDir, from: "yesterday"}); code != 2 || !strings.Contains(errOut, "--from") {
		t.Errorf("bad --from: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runVerifyTest(t, verifyFlags{dataDir: dataDir, keys: filepath.Join(dataDir, "no-keys")}); code != 2 || !strings.Contains(errOut, "--keys") {
		t.Errorf("unreadable --keys: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runVerifyTest(t, verifyFlags{dataDir: filepath.Join(dataDir, "none")}); code != 2 || errOut == "" {
		t.Errorf("missing directory: exit %d, %s", code, errOut)
	}

	// With the key-encryption key at hand, the keys are checked and the
	// note about it goes.
	text, _ := secret.EncodeKEK(kek)
	os.WriteFile(filepath.Join(dataDir, "kek.key"), text, 0o600)
	writeLines(t, seg, lines)
	out, _, code = runVerifyTest(t, verifyFlags{dataDir: dataDir})
	if code != 0 || strings.Contains(out, "note:") {
		t.Errorf("with kek.key: exit %d\n%s", code, out)
	}

	// A warning is OK, except under --strict, and the summary says which.
	os.WriteFile(filepath.Join(o.Dir, "gw-1", segmentsDir, "notes.txt"), []byte("hi\n"), 0o600)
	if out, _, code = runVerifyTest(t, verifyFlags{dataDir: dataDir}); code != 0 || !strings.Contains(out, "OK with 1 warning(s)") {
		t.Errorf("a warning: exit %d\n%s", code, out)
	}
	if out, _, code = runVerifyTest(t, verifyFlags{dataDir: dataDir, strict: true}); code != 1 || !strings.Contains(out, "FAILED under --strict: 1 warning(s)") {
		t.Errorf("a warning under --strict: exit %d\n%s", code, out)
	}
}

func TestCommandTree(t *testing.T) {
	cmd := Command()
	if cmd.Name() != "audit" {
		t.Errorf("command %q", cmd.Name())
	}
	v, _, err := cmd.Find([]string{"verify"})
	if err != nil || v.Name() != "verify" {
		t.Fatalf("no verify subcommand: %v", err)
	}
	for _, f := range []string{"data-dir", "node", "from", "to", "json", "strict", "progress", "keys", "kek-file"} {
		if v.Flags().Lookup(f) == nil {
			t.Errorf("verify has no --%s", f)
		}
	}
}

func TestProgressBar(t *testing.T) {
	got := renderBar(Progress{Bytes: 50, TotalBytes: 100, Records: 500_000, Elapsed: 2 * time.Second})
	want := "[###############...............]  50%  500k records  250k records/s  ETA 2s"
	if got != want {
		t.Errorf("renderBar = %q, want %q", got, want)
	}
	var b bytes.Buffer
	p := &progressBar{w: &b, plain: true}
	p.update(Progress{Elapsed: time.Second})
	p.update(Progress{Elapsed: 3 * time.Second, Bytes: 1, TotalBytes: 2})
	p.update(Progress{Elapsed: 4 * time.Second, Done: true, Bytes: 2, TotalBytes: 2})
	if n := strings.Count(b.String(), "\n"); n != 2 {
		t.Errorf("plain progress printed %d lines, want 2:\n%s", n, b.String())
	}
	b.Reset()
	p = &progressBar{w: &b, tty: true}
	p.update(Progress{Elapsed: barDelay / 2})
	if b.Len() != 0 {
		t.Error("a bar was drawn for a short run")
	}
	p.update(Progress{Elapsed: 2 * barDelay, Bytes: 1, TotalBytes: 2})
	p.update(Progress{Elapsed: 3 * barDelay, Done: true})
	if !strings.HasPrefix(b.String(), "\r[") || !strings.HasSuffix(b.String(), "\r\x1b[K") {
		t.Errorf("terminal bar: %q", b.String())
	}
}
