package audit

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

func validLine() []byte {
	var prev [sha256.Size]byte
	rec, _ := appendRecord(nil, decisionRecord(1))
	sum := newChainHasher().sum(&prev, 1, rec)
	return appendLine(nil, 1, &prev, &sum, rec)
}

// FuzzParseLine checks that the line parser verify uses never panics, and
// that a line it accepts has the one spelling the writer gives it.
func FuzzParseLine(f *testing.F) {
	l := validLine()
	f.Add(l[:len(l)-1])
	f.Add([]byte(`{"seq":0,"prev":"` + string(bytes.Repeat([]byte("0"), 64)) + `","hash":"` + string(bytes.Repeat([]byte("f"), 64)) + `","record":{}}`))
	f.Add([]byte(`{"seq":18446744073709551616,"prev":"","hash":"","record":{}}`))
	f.Add([]byte(`{"seq":01}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseLine(b)
		if err != nil {
			return
		}
		re := appendLine(nil, l.seq, &l.prev, &l.hash, l.record)
		if !bytes.Equal(re[:len(re)-1], b) {
			t.Fatalf("accepted %q, which the writer spells %q", b, re)
		}
	})
}

// FuzzParseDigest checks that the digest parser never panics, and that a
// digest it accepts re-encodes to a digest it reads back the same, with
// the same signed payload.
func FuzzParseDigest(f *testing.F) {
	d := &Digest{
		DigestVersion: DigestVersion, Node: "n1", Segment: segmentName(1), SegmentSHA256: string(bytes.Repeat([]byte("ab"), 32)),
		Size: 100, FirstSeq: 1, LastSeq: 2, Records: 2, FirstPrev: string(bytes.Repeat([]byte("0"), 64)), LastHash: string(bytes.Repeat([]byte("cd"), 32)),
		EarliestEventTime: "2026-11-29T10:00:00Z", LatestEventTime: "2026-11-29T10:00:01.5Z", ClosedAt: "2026-11-29T10:15:00Z",
		CloseReason: CloseAge, TornTails: []TornTail{{Offset: 3, Length: 4, File: tornName(1, 3)}}, KeyID: "0123456789abcdef", Signature: "MEUCIQ==", PreviousDigest: digestName(1), PreviousSignature: "MEUCIQ==",
	}
	b, _ := d.encode()
	f.Add(b)
	f.Add([]byte(`{"digestVersion":1}`))
	f.Add([]byte(`{"digestVersion":1,"extra":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDigest(b)
		if err != nil {
			return
		}
		p1, err := d.payload()
		if err != nil {
			t.Fatal(err)
		}
		enc, err := d.encode()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := parseDigest(enc)
		if err != nil {
			t.Fatalf("re-encoded digest does not parse: %v\n%s", err, enc)
		}
		p2, _ := d2.payload()
		enc2, _ := d2.encode()
		if !bytes.Equal(p1, p2) || !bytes.Equal(enc, enc2) {
			t.Fatalf("digest changed on re-encoding:\n%s\n%s", p1, p2)
		}
	})
}

// FuzzScan feeds verify's segment reader and its analysis of damaged
// segments arbitrary bytes.
func FuzzScan(f *testing.F) {
	l := validLine()
	f.Add(l)
	f.Add(append(append([]byte{}, l...), l...))
	f.Add(append(append([]byte{}, l...), l[:40]...))
	f.Add([]byte("\n\n{}\n"))
	f.Add(append(append([]byte{}, l...), make([]byte, 100)...))
	f.Add(append(append(append([]byte{}, l...), l[:40]...), make([]byte, 100)...))
	f.Add(append(append(append([]byte{}, l...), 0, 0, 'x', '\n'), l...))
	f.Add(append(append(append(append([]byte{}, l...), l[:40]...), make([]byte, 64)...), l[100:]...))
	sc := newScanner()
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := sc.scan(bytes.NewReader(b), 1, true, &scanCounters{})
		if err != nil {
			t.Fatal(err)
		}
		if res.size != int64(len(b)) || res.count > uint64(len(sc.lines)) {
			t.Fatalf("size %d of %d bytes, %d well-formed of %d lines", res.size, len(b), res.count, len(sc.lines))
		}
		if sha256.Sum256(b) != res.sha {
			t.Fatal("the file hash is wrong")
		}
		// The records, the torn tail and the writer's zeros make up the
		// file, in that order: whole lines, then bytes ending in one that
		// is not zero, then zeros.
		if res.end+res.tailLen+res.zeros != res.size || (res.tailLen > 0 && res.tailOff != res.end) {
			t.Fatalf("end %d + tail %d (at %d) + zeros %d != size %d", res.end, res.tailLen, res.tailOff, res.zeros, res.size)
		}
		if res.end > 0 && b[res.end-1] != '\n' {
			t.Fatalf("the records end at %d, not after a newline", res.end)
		}
		if res.tailLen > 0 && b[res.end+res.tailLen-1] == 0 {
			t.Fatal("the torn tail ends in a zero byte")
		}
		if len(bytes.Trim(b[res.end+res.tailLen:], "\x00")) != 0 {
			t.Fatal("the zeros after the tail are not all zero")
		}
		if i := bytes.IndexByte(b, 0); int64(i) != res.zeroAt || (i >= 0 && int64(i) < res.end) {
			t.Fatalf("zeroAt %d, the first zero byte at %d, the records end at %d", res.zeroAt, i, res.end)
		}
		if res.anomaly {
			sc.analyze(1)
		}
	})
}
