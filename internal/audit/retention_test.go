package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
)

// prunedLog writes four segments an hour apart (seq 1-10, 11-20, 21-30,
// 31-40), then opens the node an hour after the last with a retention of
// 150 minutes, which removes the first two, writes five more records and
// closes it.
func prunedLog(t *testing.T) (string, *secret.KEK) {
	t.Helper()
	dir, kek, clock := t.TempDir(), testKEK(t), newFakeClock()
	o := Options{Dir: dir, Node: tamperNode, KEK: kek, Clock: clock.Now}
	for range tamperSegments {
		writeLog(t, o, tamperPerSeg)
		clock.Advance(time.Hour)
	}
	o.RetainAge = 150 * time.Minute
	writeLog(t, o, 5)
	return dir, kek
}

func markerPath(dir string) string { return filepath.Join(dir, tamperNode, retentionName) }

func readMarker(t *testing.T, dir string) *RetentionMarker {
	t.Helper()
	b, err := os.ReadFile(markerPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseRetention(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeMarker(t *testing.T, dir string, m *RetentionMarker, k *signingKey) {
	t.Helper()
	if err := m.sign(k); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(markerPath(dir), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRetentionByAge(t *testing.T) {
	dir, _ := prunedLog(t)
	segs, digs := nodeFiles(t, dir, tamperNode)
	wantSegs := []string{seg(2), seg(3), segmentName(41)}
	if strings.Join(segs, ",") != strings.Join(wantSegs, ",") || len(digs) != 3 || digs[0] != dig(2) {
		t.Fatalf("segments %v, digests %v; want %v", segs, digs, wantSegs)
	}
	m := readMarker(t, dir)
	if m.PrunedThroughSeq != 20 || m.PrunedThroughDigest != dig(1) || m.Node != tamperNode {
		t.Errorf("marker %+v", m)
	}
	rep := verifyDir(t, dir)
	mustClean(t, rep)
	if rep.Records != 25 {
		t.Errorf("%d records read, want 25", rep.Records)
	}
}

func TestRetentionBySize(t *testing.T) {
	dir := t.TempDir()
	const limit = 16 << 10
	o := Options{Dir: dir, Node: tamperNode, KEK: testKEK(t), SegmentSize: 4 << 10, RetainSize: limit}
	writeLog(t, o, 200)
	segs, digs := nodeFiles(t, dir, tamperNode)
	var total int64
	for _, s := range segs {
		fi, err := os.Stat(filepath.Join(dir, tamperNode, segmentsDir, s))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if total > limit || len(segs) < 2 || len(segs) != len(digs) || segs[0] == segmentName(1) {
		t.Errorf("%d bytes in %d segments (%v) after pruning to %d bytes", total, len(segs), segs, limit)
	}
	if m := readMarker(t, dir); segmentName(m.PrunedThroughSeq+1) != segs[0] {
		t.Errorf("marker prunes through seq %d, but the first segment is %s", m.PrunedThroughSeq, segs[0])
	}
	mustClean(t, verifyDir(t, dir))
}

// A prune interrupted after its marker was written leaves files the marker
// covers: verify notes them, and the next prune removes them.
func TestRetentionInterrupted(t *testing.T) {
	dir, kek := prunedLog(t)
	for _, p := range []string{segPath(dir, 1), digPath(dir, 1)} {
		if err := os.WriteFile(p, []byte("left over\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep := verifyDir(t, dir)
	if !rep.OK(true) || len(rep.Findings) != 2 || rep.Findings[0].Kind != PrunedFile || rep.Findings[0].Severity != SeverityInfo {
		t.Fatalf("findings %v", rep.Findings)
	}
	writeLog(t, Options{Dir: dir, Node: tamperNode, KEK: kek, RetainAge: 1000 * time.Hour}, 1)
	mustClean(t, verifyDir(t, dir))
	if _, err := os.Stat(segPath(dir, 1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover segment not removed: %v", err)
	}
}

func TestRetentionTamper(t *testing.T) {
	segRel := func(i int) string { return tamperNode + "/segments/" + seg(i) }
	markerRel := tamperNode + "/" + retentionName
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string, kek *secret.KEK)
		kind   Kind
		file   string
	}{
		{
			name: "edit the marker",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editFile(t, markerPath(dir), func(b []byte) []byte {
					return bytes.Replace(b, []byte(`"prunedThroughSeq": 20`), []byte(`"prunedThroughSeq": 30`), 1)
				})
			},
			kind: ForgedRetention, file: markerRel,
		},
		{
			name: "a marker ztgate signed that the log does not continue",
			tamper: func(t *testing.T, dir string, kek *secret.KEK) {
				k, err := loadOrCreateKey(dir, kek)
				if err != nil {
					t.Fatal(err)
				}
				m := readMarker(t, dir)
				m.PrunedThroughLastHash = strings.Repeat("0", hashHex)
				writeMarker(t, dir, m, k)
			},
			kind: ForgedRetention, file: markerRel,
		},
		{
			name: "a marker signed with another key",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				writeMarker(t, dir, readMarker(t, dir), attackerKey(t, ""))
			},
			kind: UnknownKey, file: markerRel,
		},
		{
			name: "delete the marker",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				if err := os.Remove(markerPath(dir)); err != nil {
					t.Fatal(err)
				}
			},
			kind: DeletedSegment, file: segRel(2),
		},
		{
			name: "delete a segment after the marker",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				if err := os.Remove(segPath(dir, 2)); err != nil {
					t.Fatal(err)
				}
			},
			kind: DeletedSegment, file: segRel(2),
		},
		{
			name: "delete a segment and its digest after the marker",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				for _, p := range []string{segPath(dir, 2), digPath(dir, 2)} {
					if err := os.Remove(p); err != nil {
						t.Fatal(err)
					}
				}
			},
			kind: DeletedSegment, file: segRel(3),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, kek := prunedLog(t)
			tt.tamper(t, dir, kek)
			rep := verifyDir(t, dir)
			found := false
			for _, f := range rep.Findings {
				found = found || f.Kind == tt.kind && f.File == tt.file
			}
			if !found || rep.OK(false) {
				t.Errorf("want an error %s in %s; findings:", tt.kind, tt.file)
				for _, f := range rep.Findings {
					t.Log(f)
				}
			}
		})
	}
}

// A prune over a broken log stops at the break rather than hide it.
func TestRetentionStopsAtBreak(t *testing.T) {
	dir, kek := tamperLog(t)
	if err := os.Remove(segPath(dir, 1)); err != nil {
		t.Fatal(err)
	}
	before := verifyDir(t, dir)
	writeLog(t, Options{Dir: dir, Node: tamperNode, KEK: kek, RetainSize: 1}, 1)
	if _, err := os.Stat(segPath(dir, 2)); err != nil {
		t.Fatalf("a segment after the break was removed: %v", err)
	}
	after := verifyDir(t, dir)
	if after.OK(false) || after.Errors() < before.Errors() {
		t.Errorf("the deleted segment is no longer reported: %v", after.Findings)
	}
}

func runPruneTest(t *testing.T, f pruneFlags) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runPrune(f, time.Now(), &out, &errb)
	var ee *ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.Code
	default:
		t.Fatalf("runPrune: %v", err)
	}
	return out.String(), errb.String(), code
}

func TestPruneCommand(t *testing.T) {
	if p, _, err := Command().Find([]string{"prune"}); err != nil || p.Name() != "prune" || p.Flags().Lookup("older-than") == nil || p.Flags().Lookup("max-size-mib") == nil {
		t.Fatalf("no prune subcommand with its flags: %v", err)
	}
	dataDir := t.TempDir()
	kek := testKEK(t)
	kekFile := filepath.Join(dataDir, "kek.key")
	if err := secret.WriteKEKFile(kekFile, kek); err != nil {
		t.Fatal(err)
	}
	o := Options{Dir: filepath.Join(dataDir, DirName), Node: tamperNode, KEK: kek}
	for range 3 {
		writeLog(t, o, 5)
	}

	if _, errOut, code := runPruneTest(t, pruneFlags{dataDir: dataDir}); code != exitInput || !strings.Contains(errOut, "--older-than") {
		t.Errorf("no bound: exit %d, %s", code, errOut)
	}

	w := openTest(t, o)
	_, errOut, code := runPruneTest(t, pruneFlags{dataDir: dataDir, olderThan: time.Nanosecond})
	if code != exitFindings || !strings.Contains(errOut, "node gw-1 is running") {
		t.Errorf("while the node runs: exit %d, %s", code, errOut)
	}
	if segs, _ := nodeFiles(t, o.Dir, tamperNode); len(segs) != 3 {
		t.Errorf("segments removed while the node runs: %v", segs)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runPruneTest(t, pruneFlags{dataDir: dataDir, olderThan: time.Nanosecond})
	if code != 0 || !strings.Contains(out, "gw-1: removed 2 segment(s); records to seq 10 are pruned") {
		t.Errorf("stopped node: exit %d\n%s%s", code, out, errOut)
	}
	mustClean(t, verifyDir(t, o.Dir))

	// The same path a running node takes: it writes on from the marker.
	writeLog(t, o, 5)
	rep, err := Verify(context.Background(), VerifyOptions{Dir: o.Dir})
	if err != nil {
		t.Fatal(err)
	}
	mustClean(t, rep)
}
