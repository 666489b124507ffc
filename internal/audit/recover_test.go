package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// crashBeforeClose makes a closed log look as a crash leaves it: the
// newest segment without its digest.
func crashBeforeClose(t *testing.T, dir, node string, seq uint64) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, node, digestsDir, digestName(seq))); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	kek := testKEK(t)
	o := Options{Dir: dir, Node: "n1", KEK: kek}
	writeLog(t, o, 5)
	writeLog(t, o, 3) // seq 6-8
	crashBeforeClose(t, dir, "n1", 6)
	segPath := filepath.Join(dir, "n1", segmentsDir, segmentName(6))
	fi, _ := os.Stat(segPath)
	off := fi.Size()
	torn := []byte(`{"seq":9,"prev":"0123456789abcdef`)
	appendBytes(t, segPath, torn)

	// Before recovery: the incomplete line is reported, as a warning.
	rep := verifyDir(t, dir)
	if !rep.OK(false) || rep.OK(true) || len(rep.Findings) != 1 || rep.Findings[0].Kind != Torn {
		t.Fatalf("before recovery: %v", rep.Findings)
	}

	w := openTest(t, o)
	if err := w.Append(context.Background(), decisionRecord(9)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evidence := tornName(6, off)
	if b, err := os.ReadFile(filepath.Join(dir, "n1", segmentsDir, evidence)); err != nil || string(b) != string(torn) {
		t.Errorf("evidence file %s: %q, %v", evidence, b, err)
	}
	d := readDigest(t, dir, "n1", digestName(6))
	if d.CloseReason != CloseRecovery || d.Size != off || len(d.TornTails) != 1 ||
		d.TornTails[0] != (TornTail{Offset: off, Length: int64(len(torn)), File: evidence}) {
		t.Errorf("digest after recovery: %+v", d)
	}
	rep = verifyDir(t, dir)
	want := fmt.Sprintf("torn tail at %s:%d (%d bytes), recovered", segmentName(6), off, len(torn))
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != Torn || !strings.Contains(rep.Findings[0].Message, want) {
		t.Fatalf("after recovery: %v, want one %q", rep.Findings, want)
	}
	if !rep.OK(false) || rep.OK(true) {
		t.Error("a recovered torn tail must be a warning: OK, but not under --strict")
	}
	if rep.Records != 9 {
		t.Errorf("%d records, want 9", rep.Records)
	}

	// Losing the evidence is said.
	os.Remove(filepath.Join(dir, "n1", segmentsDir, evidence))
	rep = verifyDir(t, dir)
	if len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "missing") {
		t.Errorf("evidence removed: %v", rep.Findings)
	}
}

// TestTornOnly: a crash while writing the first batch of a segment leaves
// a segment with no whole line; the next run writes on in it.
func TestTornOnly(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}
	writeLog(t, o, 2)
	appendBytes(t, filepath.Join(dir, "n1", segmentsDir, segmentName(3)), []byte(`{"seq":3,"pr`))
	writeLog(t, o, 2)
	d := readDigest(t, dir, "n1", digestName(3))
	if d.Records != 2 || len(d.TornTails) != 1 || d.TornTails[0].Offset != 0 || d.CloseReason != CloseShutdown {
		t.Errorf("digest: %+v", d)
	}
	rep := verifyDir(t, dir)
	if !rep.OK(false) || len(rep.Findings) != 1 || rep.Findings[0].Kind != Torn || rep.Records != 4 {
		t.Errorf("findings %v, %d records", rep.Findings, rep.Records)
	}
}

// TestRecoverNeverSigns: recovery leaves a segment that does not verify
// without a digest, and the log goes on after it.
func TestRecoverNeverSigns(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}
	writeLog(t, o, 2)
	writeLog(t, o, 3) // seq 3-5
	crashBeforeClose(t, dir, "n1", 3)
	path := filepath.Join(dir, "n1", segmentsDir, segmentName(3))
	lines := readLines(t, path)
	lines[1] = []byte(strings.Replace(string(lines[1]), `"GET"`, `"PUT"`, 1))
	writeLines(t, path, lines)

	writeLog(t, o, 1) // seq 6, in a new segment
	if _, err := os.Stat(filepath.Join(dir, "n1", digestsDir, digestName(3))); err == nil {
		t.Fatal("recovery signed a segment that does not verify")
	}
	rep := verifyDir(t, dir)
	kinds := map[Kind]bool{}
	for _, f := range rep.Findings {
		kinds[f.Kind] = true
	}
	if !kinds[ModifiedRecord] || !kinds[MissingDigest] || rep.OK(false) {
		t.Errorf("findings %v", rep.Findings)
	}
	if _, err := os.Stat(filepath.Join(dir, "n1", segmentsDir, segmentName(6))); err != nil {
		t.Errorf("the log did not go on in a new segment: %v", err)
	}
}

// TestRecoverTempFiles: an interrupted digest write leaves a temporary
// file, which recovery removes and verify ignores.
func TestRecoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}
	writeLog(t, o, 1)
	tmp := filepath.Join(dir, "n1", digestsDir, "."+digestName(2)+".tmp-123")
	os.WriteFile(tmp, []byte("{"), 0o600)
	mustClean(t, verifyDir(t, dir))
	writeLog(t, o, 1)
	if _, err := os.Stat(tmp); err == nil {
		t.Error("the temporary file was not removed")
	}
}
