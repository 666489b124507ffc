package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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

	// Zeros added to a closed segment are a modification.
	appendBytes(t, path, make([]byte, 4096))
	rep = verifyDir(t, dir)
	if rep.OK(false) || len(rep.Findings) != 1 || rep.Findings[0].Kind != ModifiedSegment {
		t.Errorf("zeros after a closed segment: %v", rep.Findings)
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
			tail := append([]byte(tc.torn), make([]byte, 3000)...)
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
