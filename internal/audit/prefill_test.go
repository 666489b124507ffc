package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestPrefill: an open segment's records are followed by the writer's
// zeros, which readers take as the end of the records and verify does
// not report; closing cuts them off, so that the digest's size is the
// file's.
func TestPrefill(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir, Node: "n1", KEK: testKEK(t)})
	for i := range 10 {
		if err := w.Append(context.Background(), decisionRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "n1", segmentsDir, segmentName(1))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.TrimRight(b, "\x00")
	if len(data) == len(b) || len(b) > len(data)+prefillChunk {
		t.Fatalf("open segment: %d bytes of records, %d in the file; want zeros after them, at most %d", len(data), len(b), prefillChunk)
	}
	if bytes.Count(data, []byte("\n")) != 10 || data[len(data)-1] != '\n' {
		t.Fatalf("open segment: the records are not 10 whole lines before the zeros")
	}
	if got := len(readLines(t, path)); got != 10 {
		t.Fatalf("readLines: %d lines, want 10", got)
	}
	rep := verifyDir(t, dir)
	mustClean(t, rep)
	if rep.Records != 10 {
		t.Errorf("verify of the open log: %d records, want 10", rep.Records)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	d := readDigest(t, dir, "n1", digestName(1))
	if fi.Size() != int64(len(data)) || d.Size != fi.Size() {
		t.Errorf("closed segment: %d bytes, digest says %d, records take %d", fi.Size(), d.Size, len(data))
	}
	mustClean(t, verifyDir(t, dir))

	// Zeros after the newest closed segment are what a crash while
	// closing it leaves (the digest is signed first): a warning, and the
	// next start cuts them off.
	appendBytes(t, path, make([]byte, 4096))
	rep = verifyDir(t, dir)
	if !rep.OK(false) || len(rep.Findings) != 1 || rep.Findings[0].Kind != Torn {
		t.Errorf("zeros after the newest closed segment: %v", rep.Findings)
	}
	writeLog(t, Options{Dir: dir, Node: "n1", KEK: w.o.KEK}, 1)
	if fi, err := os.Stat(path); err != nil || fi.Size() != d.Size {
		t.Errorf("after a start the segment is %v bytes, want %d", fi.Size(), d.Size)
	}
	mustClean(t, verifyDir(t, dir))

	// Zeros added to an older closed segment are a modification.
	appendBytes(t, path, make([]byte, 4096))
	rep = verifyDir(t, dir)
	if rep.OK(false) || len(rep.Findings) != 1 || rep.Findings[0].Kind != ModifiedSegment {
		t.Errorf("zeros after a closed segment: %v", rep.Findings)
	}
}

// TestDigestRemoved: removing the digest of the newest closed segment
// makes it look like the segment a crash left open, but a segment being
// written always has the writer's zeros after its records: verify reports
// the missing digest and the next start signs nothing.
func TestDigestRemoved(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}
	writeLog(t, o, 5)
	writeLog(t, o, 5) // seq 6-10, segment 6
	crashBeforeClose(t, dir, "n1", 6)
	rep := verifyDir(t, dir)
	if rep.OK(false) || len(rep.Findings) != 1 || rep.Findings[0].Kind != MissingDigest {
		t.Fatalf("newest digest removed: %v", rep.Findings)
	}
	writeLog(t, o, 1)
	if _, digs := nodeFiles(t, dir, "n1"); slices.Contains(digs, digestName(6)) {
		t.Error("the next start signed the segment whose digest was removed")
	}
	if verifyDir(t, dir).OK(false) {
		t.Error("after a start the log verifies")
	}
}

// TestPrefillBounded: the zeros never run past the segment size, and a
// segment closed by size holds its records alone.
func TestPrefillBounded(t *testing.T) {
	dir := t.TempDir()
	const size = 64 << 10
	w := openTest(t, Options{Dir: dir, Node: "n1", KEK: testKEK(t), SegmentSize: size})
	for i := range 200 {
		if err := w.Append(context.Background(), decisionRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := nodeFiles(t, dir, "n1")
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	for i, s := range segs {
		fi, err := os.Stat(filepath.Join(dir, "n1", segmentsDir, s))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > size {
			t.Errorf("%s: %d bytes, more than the segment size %d", s, fi.Size(), size)
		}
		if i < len(segs)-1 {
			seq, _ := parseSeqName(s, segmentExt)
			d := readDigest(t, dir, "n1", digestName(seq))
			if d.Size != fi.Size() {
				t.Errorf("%s: %d bytes, its digest says %d", s, fi.Size(), d.Size)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mustClean(t, verifyDir(t, dir))
}

// TestRecoverZeros: a crash leaves the open segment with the writer's
// zeros after its records, and perhaps an incomplete line before them.
// Recovery cuts the zeros off without calling them a torn tail, and
// keeps the incomplete line, without the zeros, as the evidence of one.
func TestRecoverZeros(t *testing.T) {
	for _, tc := range []struct {
		name string
		torn string // before the zeros
		tail string // after them
	}{
		{name: "zeros only"},
		{name: "incomplete line", torn: `{"seq":6,"prev":"0123`},
		{name: "bytes after the zeros", tail: `{"seq":6}`},
		{name: "lines after the zeros", tail: "{\"seq\":6}\n{\"seq\":7}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}
			writeLog(t, o, 5)
			crashBeforeClose(t, dir, "n1", 1)
			path := filepath.Join(dir, "n1", segmentsDir, segmentName(1))
			fi, _ := os.Stat(path)
			off := fi.Size()
			// The zeros before tc.tail end at a sector boundary, as a
			// crash's hole does (see TestRecoverStrayZero for others).
			gap := 3000 + (holeAlign-(off+int64(len(tc.torn))+3000)%holeAlign)%holeAlign
			tail := append([]byte(tc.torn), make([]byte, gap)...)
			tail = append(tail, tc.tail...)
			tail = append(tail, make([]byte, 5000)...)
			appendBytes(t, path, tail)

			rep := verifyDir(t, dir)
			wantTorn := tc.torn != "" || tc.tail != ""
			if !rep.OK(false) || (len(rep.Findings) > 0) != wantTorn || (wantTorn && rep.Findings[0].Kind != Torn) {
				t.Fatalf("before recovery: %v", rep.Findings)
			}

			writeLog(t, o, 1)
			if fi, _ := os.Stat(path); fi.Size() != off {
				t.Errorf("after recovery the segment is %d bytes, want its records' %d", fi.Size(), off)
			}
			d := readDigest(t, dir, "n1", digestName(1))
			if d.Size != off || d.Records != 5 || d.CloseReason != CloseRecovery {
				t.Errorf("digest after recovery: %+v", d)
			}
			if !wantTorn {
				if len(d.TornTails) != 0 {
					t.Errorf("zeros recovered as a torn tail: %+v", d.TornTails)
				}
				mustClean(t, verifyDir(t, dir))
				return
			}
			want := bytes.TrimRight(tail, "\x00")
			if len(d.TornTails) != 1 || d.TornTails[0].Length != int64(len(want)) {
				t.Fatalf("torn tails: %+v, want one of %d bytes", d.TornTails, len(want))
			}
			got, err := os.ReadFile(filepath.Join(dir, "n1", segmentsDir, d.TornTails[0].File))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("evidence: %q, %v; want %q", got, err, want)
			}
			rep = verifyDir(t, dir)
			if !rep.OK(false) || len(rep.Findings) != 1 || rep.Findings[0].Kind != Torn || rep.Records != 6 {
				t.Errorf("after recovery: %v, %d records", rep.Findings, rep.Records)
			}
		})
	}
}

// TestRecoverHole: an OS crash while a batch overwrites the zeros can
// keep its pages out of order: whole sectors of the unacknowledged batch
// still zeros, from within one line into the next, while later bytes of
// it reached the disk. The acknowledged records are kept and signed; the
// batch, hole and all, is the torn tail. A hole of another shape is no
// crash's: nothing is cut or signed, and verify says records were
// overwritten.
func TestRecoverHole(t *testing.T) {
	for _, aligned := range []bool{true, false} {
		t.Run(fmt.Sprintf("sector aligned %v", aligned), func(t *testing.T) {
			dir := t.TempDir()
			o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}
			writeLog(t, o, 8)
			crashBeforeClose(t, dir, "n1", 1)
			path := filepath.Join(dir, "n1", segmentsDir, segmentName(1))
			lines := readLines(t, path)
			var file []byte
			for _, l := range lines[:5] { // seq 1-5: synced, acknowledged
				file = append(file, l...)
			}
			acked := int64(len(file))
			var batch []byte // seq 6-8, in flight
			for _, l := range lines[5:] {
				batch = append(batch, l...)
			}
			file = append(append(file, batch...), make([]byte, 8192)...)
			from, to := acked+100, acked+int64(len(lines[5]))+200
			if aligned {
				from, to = (from+holeAlign-1)/holeAlign*holeAlign, to/holeAlign*holeAlign+holeAlign
			}
			if to >= acked+int64(len(batch)) {
				t.Fatal("the hole does not fit in the batch")
			}
			clear(file[from:to])
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
			rep := verifyDir(t, dir)
			if rep.OK(false) != aligned || len(rep.Findings) != 1 {
				t.Fatalf("before recovery: %v", rep.Findings)
			}
			writeLog(t, o, 1)
			if !aligned {
				if _, digs := nodeFiles(t, dir, "n1"); slices.Contains(digs, digestName(1)) {
					t.Error("recovery signed a segment whose records were overwritten")
				}
				if b, _ := os.ReadFile(path); !bytes.Equal(b, file) {
					t.Error("recovery changed a segment whose records were overwritten")
				}
				if verifyDir(t, dir).OK(false) {
					t.Error("after recovery the log verifies")
				}
				return
			}
			d := readDigest(t, dir, "n1", digestName(1))
			want := bytes.TrimRight(file[acked:], "\x00")
			if d.Records != 5 || d.LastSeq != 5 || d.Size != acked || len(d.TornTails) != 1 || d.TornTails[0].Length != int64(len(want)) {
				t.Fatalf("digest after recovery: %+v, want seq 1-5 and the %d-byte batch as torn tail", d, len(want))
			}
			rep = verifyDir(t, dir)
			if !rep.OK(false) || len(rep.Findings) != 1 || rep.Findings[0].Kind != Torn || rep.Records != 6 {
				t.Errorf("after recovery: %v, %d records", rep.Findings, rep.Records)
			}
		})
	}
}

// TestRecoverStrayZero: one zero byte written into a line of the open
// segment hides the lines after it; that is no crash's hole, so verify
// reports an error and recovery moves none of those records aside.
func TestRecoverStrayZero(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}
	writeLog(t, o, 10)
	crashBeforeClose(t, dir, "n1", 1)
	path := filepath.Join(dir, "n1", segmentsDir, segmentName(1))
	lines := readLines(t, path)
	off := int64(len(lines[0]) + len(lines[1]) + len(lines[2]) + len(lines[3]) + 77)
	if off%holeAlign == 0 {
		off++
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0}, off)
	f.Close()
	before, _ := os.ReadFile(path)
	if rep := verifyDir(t, dir); rep.OK(false) {
		t.Fatalf("a zero byte in line 5 of the open segment verifies: %v", rep.Findings)
	}
	writeLog(t, o, 1)
	if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
		t.Error("recovery cut records after a stray zero byte")
	}
	if segs, _ := nodeFiles(t, dir, "n1"); len(segs) != 2 {
		t.Errorf("segments %v: the log should go on in a new one", segs)
	}
	if verifyDir(t, dir).OK(false) {
		t.Error("after recovery the log verifies")
	}
}

// TestZerosInClosedSegment: a closed segment never holds a zero byte;
// one written over a record is reported as a modified segment, wherever
// it is.
func TestZerosInClosedSegment(t *testing.T) {
	for _, line := range []int{0, 4, 9} {
		dir := t.TempDir()
		writeLog(t, Options{Dir: dir, Node: "n1", KEK: testKEK(t)}, 10)
		path := filepath.Join(dir, "n1", segmentsDir, segmentName(1))
		lines := readLines(t, path)
		off := 0
		for _, l := range lines[:line] {
			off += len(l)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(make([]byte, 30), int64(off+len(lines[line])/2))
		f.Close()
		rep := verifyDir(t, dir)
		if rep.OK(false) || len(rep.Findings) != 1 || rep.Findings[0].Kind != ModifiedSegment ||
			!strings.Contains(rep.Findings[0].Message, "zero bytes at offset") {
			t.Errorf("zeros in line %d of a closed segment: %v", line+1, rep.Findings)
		}
	}
}

// TestRecoverOverwritten: more after the open segment's last whole line
// than a crash leaves unsynced is not cut off as a torn tail: recovery
// signs nothing and verify reports it.
func TestRecoverOverwritten(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Node: "n1", KEK: testKEK(t), SegmentSize: 1 << 30}
	w := openTest(t, o)
	ctx := context.Background()
	big := decisionRecord(0)
	big.RequestParameters = map[string]any{"pad": strings.Repeat("x", 200<<10)}
	for range (maxTornTail / (200 << 10)) + 20 {
		if err := w.Append(ctx, big); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	crashBeforeClose(t, dir, "n1", 1)
	path := filepath.Join(dir, "n1", segmentsDir, segmentName(1))
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0}, 0) // the first line's first byte: every record after it hidden
	f.Close()
	rep := verifyDir(t, dir)
	if rep.OK(false) {
		t.Fatalf("a zeroed line start hiding %d bytes of records passed as a torn tail: %v", maxTornTail, rep.Findings)
	}
	writeLog(t, o, 1)
	if _, digs := nodeFiles(t, dir, "n1"); len(digs) != 1 || digs[0] == digestName(1) {
		t.Errorf("digests after recovery: %v; want only the next segment's", digs)
	}
	if rep := verifyDir(t, dir); rep.OK(false) {
		t.Errorf("after recovery the log verifies: %v", rep.Findings)
	}
}

// TestPrefillFailure: when the zeros cannot be written (a full disk, a
// file size limit), the batch fails with nothing of it in the file: the
// next start signs exactly the acknowledged records.
func TestPrefillFailure(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}
	w := openTest(t, o)
	ctx := context.Background()
	if err := w.Append(ctx, decisionRecord(0)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "n1", segmentsDir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skip(err)
	}
	// Writes past the zeros written so far fail with EFBIG.
	lim := syscall.Rlimit{Cur: uint64(fi.Size()), Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skip(err)
	}
	acked, failed := 1, false
	for i := 1; i < 10000; i++ {
		if err := w.Append(ctx, decisionRecord(i)); err != nil {
			failed = true
			break
		}
		acked++
	}
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	w.Close()
	if !failed {
		t.Fatal("no append failed at the file size limit")
	}
	writeLog(t, o, 0)
	d := readDigest(t, dir, "n1", digestName(1))
	if d.Records != uint64(acked) || len(d.TornTails) != 0 {
		t.Errorf("recovery signed %d records with torn tails %v; %d were acknowledged", d.Records, d.TornTails, acked)
	}
	mustClean(t, verifyDir(t, dir))
}

// TestRewrittenThenZeros: zeros after the newest closed segment read as a
// crash while closing it, but what its digest signs is still compared: a
// record rewritten there (its unkeyed chain hash recomputed) is found.
func TestRewrittenThenZeros(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, Options{Dir: dir, Node: "n1", KEK: testKEK(t)}, 5)
	path := filepath.Join(dir, "n1", segmentsDir, segmentName(1))
	lines := readLines(t, path)
	last := lines[len(lines)-1]
	l, err := parseLine(last[:len(last)-1])
	if err != nil {
		t.Fatal(err)
	}
	rec := bytes.Replace(l.record, []byte("203.0.113.7"), []byte("203.0.113.9"), 1)
	if bytes.Equal(rec, l.record) {
		t.Fatal("nothing to rewrite in the last record")
	}
	sum := newChainHasher().sum(&l.prev, l.seq, rec)
	lines[len(lines)-1] = appendLine(nil, l.seq, &l.prev, &sum, rec)
	writeLines(t, path, lines)
	appendBytes(t, path, make([]byte, 4096))
	rep := verifyDir(t, dir)
	found := false
	for _, f := range rep.Findings {
		found = found || f.Kind == ModifiedSegment
	}
	if rep.OK(false) || !found {
		t.Errorf("a rewritten signed segment followed by zeros: %v", rep.Findings)
	}
}
