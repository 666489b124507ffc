package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// recover finds where the node's log ends and repairs what a crash left:
//
//   - an incomplete last line in the newest segment, written when the
//     process died, is moved to a torn-tail evidence file and cut off, and
//     the segment's digest will list it;
//   - the newest segment, left without a digest, is closed and its digest
//     signed, when its lines form an unbroken chain from the last digest;
//   - a newest segment holding no whole line is kept and written on.
//
// Recovery never signs what does not verify: a newest segment whose chain
// is broken is left without a digest, for verify to report, and the log
// goes on in a new segment.
func (w *Writer) recover() error {
	removeTemps(w.digDir)
	segs, err := listSeq(w.segDir, segmentExt)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	digs, err := listSeq(w.digDir, digestExt)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	lastDigestSeq := uint64(0)
	haveDigest := false
	var d *Digest // the last digest, when it reads
	if n := len(digs); n > 0 {
		lastDigestSeq, haveDigest = digs[n-1], true
		name := digestName(lastDigestSeq)
		w.lastDigest = name
		b, err := readLimited(filepath.Join(w.digDir, name), maxDigestSize)
		if err == nil {
			d, err = parseDigest(b)
		}
		if err != nil {
			// Go on: refusing to start would stop every audited request
			// over a damaged file that verify reports anyway.
			w.log.Error("audit: the last digest is unreadable; the next digest cannot chain to its signature", "digest", name, "err", err)
			if err := w.tipFromSegment(lastDigestSeq); err != nil {
				return err
			}
		} else {
			w.lastSig = d.Signature
			w.seq = d.LastSeq + 1
			if _, ok := cutHex([]byte(d.LastHash), &w.prev); !ok {
				return fmt.Errorf("audit: digest %s: bad lastHash", name)
			}
		}
	}
	if len(segs) == 0 {
		return nil
	}
	last := segs[len(segs)-1]
	if haveDigest && last <= lastDigestSeq {
		// The newest segment was closed; a crash before its zeros were
		// cut off leaves them after the size its digest signs.
		if d != nil && last == lastDigestSeq {
			return w.cutZerosAfter(filepath.Join(w.segDir, segmentName(last)), d.Size)
		}
		return nil
	}
	return w.recoverOpen(last)
}

// cutZerosAfter truncates a closed segment to size when what follows is
// zeros only: the writer's, left by a crash while closing it. Anything
// else is left for verify to report.
func (w *Writer) cutZerosAfter(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= size {
		return err
	}
	buf := make([]byte, 64<<10)
	for off := size; off < fi.Size(); {
		n, err := f.ReadAt(buf, off)
		if n == 0 && err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if len(bytes.Trim(buf[:n], "\x00")) > 0 {
			w.log.Error("audit: the newest closed segment holds more than its digest signs (run ztgate audit verify)", "segment", filepath.Base(path))
			return nil
		}
		off += int64(n)
	}
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("audit: cut zeros: %w", err)
	}
	return f.Sync()
}

// recoverOpen recovers the newest segment, which has no digest.
func (w *Writer) recoverOpen(seq uint64) error {
	name := segmentName(seq)
	path := filepath.Join(w.segDir, name)
	sc := newScanner()
	res, err := scanFile(sc, path, seq)
	if err != nil {
		return err
	}
	if res.count > 0 && res.tailLen == 0 && res.zeros == 0 {
		// A segment being written always has the writer's zeros after its
		// records; one that ends with its last record was closed, and its
		// digest removed, or its writer failed. Nothing is signed.
		w.log.Error("audit: the newest segment has no digest, yet ends as a closed segment does; it is left without one (run ztgate audit verify)",
			"segment", name, "records", res.count)
		w.seq, w.prev = max(w.seq, res.lastSeq+1, seq+1), res.lastHash
		return nil
	}
	if res.tailLen > maxTornTail || res.strayZero >= 0 {
		// More than a crash leaves unsynced, or zeros where no crash
		// leaves them: not a torn tail but records overwritten (a zero
		// byte in a line hides the lines after it). Nothing is cut or
		// signed; verify reports it.
		w.log.Error("audit: what follows the last whole line of the segment left open by the last run is not what a crash leaves; it is left without a digest (run ztgate audit verify)",
			"segment", name, "offset", res.tailOff, "bytes", res.tailLen, "zeros_at", res.strayZero)
		w.seq = max(w.seq, res.lastSeq+1, seq+1)
		if res.count > 0 {
			w.prev = res.lastHash
		}
		return nil
	}
	if res.tailLen > 0 || res.zeros > 0 {
		if err := w.cutTornTail(path, seq, res.end, res.tailLen); err != nil {
			return err
		}
		if res, err = scanFile(sc, path, seq); err != nil {
			return err
		}
	}
	follows := seq == w.seq && !res.anomaly && (res.count == 0 || res.firstPrev == w.prev)
	switch {
	case follows && res.count == 0:
		f, err := os.OpenFile(path, os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		w.seg = &segment{f: f, seq: seq, name: name, sha: sha256.New(), opened: w.o.Clock()}
		return nil
	case follows:
		s := &segment{
			seq: seq, name: name, firstPrev: res.firstPrev, lastHash: res.lastHash,
			size: res.size, records: res.count, earliest: res.earliest, latest: res.latest,
			sum: res.sha[:],
		}
		if err := w.writeDigest(s, CloseRecovery); err != nil {
			return err
		}
		w.seq, w.prev = res.lastSeq+1, res.lastHash
		w.log.Info("audit: closed the segment left open by the last run", "segment", name, "records", res.count)
		return nil
	}
	w.log.Error("audit: the segment left open by the last run does not verify; it is left without a digest (run ztgate audit verify)",
		"segment", name)
	if res.count > 0 {
		w.seq, w.prev = max(res.lastSeq+1, w.seq), res.lastHash
	}
	w.seq = max(w.seq, seq+1)
	return nil
}

// cutTornTail moves the n bytes after the last whole line of a segment,
// at off, to an evidence file and truncates the segment there, cutting
// the writer's zeros after them off too. With n zero there are only
// zeros to cut.
func (w *Writer) cutTornTail(path string, seq uint64, off, n int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if n == 0 {
		if err := f.Truncate(off); err != nil {
			return fmt.Errorf("audit: cut zeros: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("audit: cut zeros: %w", err)
		}
		return nil
	}
	torn := make([]byte, n)
	if _, err := f.ReadAt(torn, off); err != nil && err != io.EOF {
		return fmt.Errorf("audit: read torn tail: %w", err)
	}
	tn := tornName(seq, off)
	if err := writeFileAtomic(filepath.Join(w.segDir, tn), torn); err != nil {
		return fmt.Errorf("audit: keep torn tail: %w", err)
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("audit: cut torn tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: cut torn tail: %w", err)
	}
	w.log.Warn("audit: torn tail recovered: an incomplete record left by a crash was moved aside",
		"segment", filepath.Base(path), "offset", off, "bytes", n, "evidence", tn)
	return nil
}

// tipFromSegment takes the end of the chain from a segment's last line,
// when its digest cannot be read.
func (w *Writer) tipFromSegment(seq uint64) error {
	res, err := scanFile(newScanner(), filepath.Join(w.segDir, segmentName(seq)), seq)
	if os.IsNotExist(err) {
		return fmt.Errorf("audit: neither the last digest nor its segment %s can be read", segmentName(seq))
	}
	if err != nil {
		return err
	}
	if res.count == 0 {
		return fmt.Errorf("audit: the last digest and its segment %s are unreadable", segmentName(seq))
	}
	w.seq, w.prev = res.lastSeq+1, res.lastHash
	return nil
}

func scanFile(sc *scanner, path string, seq uint64) (segScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return segScan{}, err
	}
	defer f.Close()
	res, err := sc.scan(f, seq, true, nil)
	if err != nil {
		return res, fmt.Errorf("audit: read %s: %w", filepath.Base(path), err)
	}
	return res, nil
}

// listSeq lists the sequence numbers of the files in dir named with ext.
func listSeq(dir, ext string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		if seq, ok := parseSeqName(e.Name(), ext); ok && e.Type().IsRegular() {
			out = append(out, seq)
		}
	}
	slices.Sort(out)
	return out, nil
}

// removeTemps removes what an interrupted atomic write left behind.
func removeTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
