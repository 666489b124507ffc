package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync/atomic"
	"time"
)

// segScan is what one pass over a segment file found.
type segScan struct {
	size  int64
	sha   [sha256.Size]byte
	count uint64 // well-formed lines
	// The first and last well-formed lines.
	firstSeq, lastSeq   uint64
	firstPrev, lastHash [sha256.Size]byte
	// tailOff and tailLen locate what follows the last whole line other
	// than zeros: an incomplete line, or bytes after the writer's zeros.
	tailOff, tailLen int64
	// end is where the records end: the offset of the first byte after
	// the last whole line that is not part of one. zeros counts the zero
	// bytes after end (the writer's prefilled stretch of an open
	// segment).
	end, zeros int64
	// zeroAt is the offset of the first zero byte, -1 when there is none:
	// a closed segment never holds one.
	zeroAt int64
	// strayZero is the offset of the first run of zeros in the tail that
	// no crash leaves (see holeAlign), -1 when there is none: records were
	// overwritten.
	strayZero int64
	// anomaly is set when the lines are anything but a clean chain
	// starting at the segment's first sequence number.
	anomaly bool
	// The earliest and latest eventTime, when asked for.
	earliest, latest time.Time
}

// lineInfo is what the analysis of a damaged segment needs of each line.
type lineInfo struct {
	seq        uint64
	prev, hash [sha256.Size]byte
	num        int   // line number, from 1
	off        int64 // byte offset of the line
	selfOK     bool  // the line's hash covers its prev, seq and record
	malformed  bool
}

// scanner reads segments. It is reused, one per goroutine, so that
// reading allocates nothing per line.
type scanner struct {
	h     *chainHasher
	file  hash.Hash
	br    *bufio.Reader
	lines []lineInfo
	long  []byte
}

// readBufferSize is large so that lines, hundreds of bytes to a few
// kilobytes long, are nearly always read in one piece from a buffer filled
// by few system calls.
const readBufferSize = 1 << 20

func newScanner() *scanner {
	return &scanner{h: newChainHasher(), file: sha256.New(), br: bufio.NewReaderSize(nil, readBufferSize)}
}

// scanCounters are advanced while scanning, for progress reports.
type scanCounters struct {
	bytes, records atomic.Int64
}

// scan reads a segment whose name says its first record is seq first. It
// keeps every line's facts in s.lines for analyze.
func (s *scanner) scan(r io.Reader, first uint64, wantTimes bool, c *scanCounters) (segScan, error) {
	s.file.Reset()
	s.br.Reset(io.TeeReader(r, s.file))
	s.lines = s.lines[:0]
	var (
		res             = segScan{zeroAt: -1, strayZero: -1}
		off             int64
		expSeq          uint64
		expPrev         [sha256.Size]byte
		pendB, pendRecs int64
	)
	flushCounters := func() {
		if c != nil {
			c.bytes.Add(pendB)
			c.records.Add(pendRecs)
		}
		pendB, pendRecs = 0, 0
	}
	for {
		var (
			b   []byte
			err error
			// ended: the records end here. A zero byte ends them: where a
			// line would start, the writer's zeros; within a line, a line
			// torn by a crash (its pages reached the disk out of order) or
			// being written now. An incomplete last line ends them too.
			ended bool
		)
		if next, perr := s.br.Peek(1); perr == nil && next[0] == 0 {
			ended, res.zeroAt = true, off
		} else {
			b, err = s.br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				s.long = append(s.long[:0], b...)
				for errors.Is(err, bufio.ErrBufferFull) && bytes.IndexByte(b, 0) < 0 {
					b, err = s.br.ReadSlice('\n')
					s.long = append(s.long, b...)
				}
				b = s.long
			}
			switch {
			case err == io.EOF && len(b) == 0:
				ended = true // the end of the file, after a whole line
			case err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull):
				flushCounters()
				return res, err
			default:
				ended = err != nil || bytes.IndexByte(b, 0) >= 0
			}
		}
		if ended {
			if i := bytes.IndexByte(b, 0); i >= 0 {
				res.zeroAt = off + int64(i)
			}
			if len(b) > 0 || err == nil {
				n, err := s.tail(&res, off, b)
				pendB += n
				if err != nil {
					flushCounters()
					return res, err
				}
			}
			break
		}
		li := lineInfo{num: len(s.lines) + 1, off: off}
		l, perr := parseLine(b[:len(b)-1])
		if perr != nil {
			li.malformed = true
			res.anomaly = true
		} else {
			li.seq, li.prev, li.hash = l.seq, l.prev, l.hash
			li.selfOK = s.h.sum(&l.prev, l.seq, l.record) == l.hash
			if !li.selfOK {
				res.anomaly = true
			}
			if res.count == 0 {
				res.firstSeq, res.firstPrev = l.seq, l.prev
				if l.seq != first {
					res.anomaly = true
				}
			} else if l.seq != expSeq || l.prev != expPrev {
				res.anomaly = true
			}
			expSeq, expPrev = l.seq+1, l.hash
			res.count++
			res.lastSeq, res.lastHash = l.seq, l.hash
			if wantTimes {
				if t, ok := recordEventTime(l.record); ok {
					if res.earliest.IsZero() || t.Before(res.earliest) {
						res.earliest = t
					}
					if t.After(res.latest) {
						res.latest = t
					}
				}
			}
		}
		s.lines = append(s.lines, li)
		off += int64(len(b))
		pendB += int64(len(b))
		pendRecs++
		if pendRecs == 1024 {
			flushCounters()
		}
	}
	flushCounters()
	if res.tailLen == 0 && res.zeros == 0 {
		res.end = off
	}
	res.size = res.end + res.tailLen + res.zeros
	s.file.Sum(res.sha[:0])
	return res, nil
}

// tail reads the rest of a segment from off, where the records ended:
// read holds what was read of it already. The bytes up to the last one
// that is not zero are the torn tail; the zeros after it, the writer's.
// It returns the number of bytes of the tail, read included.
func (s *scanner) tail(res *segScan, off int64, read []byte) (int64, error) {
	res.end, res.tailOff = off, off
	t := tailScan{off: off, lastNZ: -1, runStart: -1, stray: -1}
	t.add(read)
	scratch := s.long[:0]
	if cap(scratch) < 64<<10 {
		scratch = make([]byte, 64<<10)
	}
	scratch = scratch[:cap(scratch)]
	for {
		k, err := s.br.Read(scratch)
		t.add(scratch[:k])
		if err == io.EOF {
			break
		}
		if err != nil {
			return t.n, err
		}
	}
	s.long = scratch[:0]
	res.tailLen = t.lastNZ + 1
	res.zeros = t.n - res.tailLen
	res.strayZero = t.stray
	return t.n, nil
}

// holeAlign is the granularity of what a crash can leave unwritten: a
// disk sector. A write the disk did not finish leaves whole sectors as
// they were (the writer's zeros); a page not written back, a whole page.
const holeAlign = 512

// tailScan follows the bytes after the records: where the last byte that
// is not zero is, and whether a run of zeros among them has a shape no
// crash leaves.
type tailScan struct {
	off      int64 // where the tail starts
	n        int64 // bytes seen
	lastNZ   int64 // offset from off of the last byte that is not zero, -1
	runStart int64 // offset of the run of zeros being seen, -1
	stray    int64 // offset of the first run no crash leaves, -1
}

// add takes the next bytes of the tail. A run of zeros followed by data
// is a crash's hole when it covers whole sectors, or starts where the
// records end (the first sector of a batch, not written back, holding
// the synced records before it) and ends at a sector boundary.
func (t *tailScan) add(b []byte) {
	for i := 0; i < len(b); {
		at := t.off + t.n + int64(i)
		if b[i] == 0 {
			if t.runStart < 0 {
				t.runStart = at
			}
			j := i + 1
			for j < len(b) && b[j] == 0 {
				j++
			}
			i = j
			continue
		}
		if t.runStart >= 0 {
			if (t.runStart != t.off && t.runStart%holeAlign != 0) || at%holeAlign != 0 {
				if t.stray < 0 {
					t.stray = t.runStart
				}
			}
			t.runStart = -1
		}
		j := i + 1
		for j < len(b) && b[j] != 0 {
			j++
		}
		t.lastNZ = at + int64(j-i) - 1 - t.off
		i = j
	}
	t.n += int64(len(b))
}

// lineFinding is a finding within one segment, before it is named.
type lineFinding struct {
	kind Kind
	line int
	seq  uint64
	msg  string
}

// analyze explains a segment whose scan found an anomaly, from the lines
// s.lines holds. It follows the chain from the segment's first sequence
// number, choosing at each number the line that links to the one before
// (and, among equals, the one the next links to), and reports records
// whose bytes do not match their hash (modified), numbers with no line
// (deleted), lines left out of the chain (inserted), chain lines out of
// file order (reordered), and links that do not hold (a record rewritten
// with a recomputed hash).
func (s *scanner) analyze(first uint64) []lineFinding {
	lines := s.lines
	var out []lineFinding
	bySeq := make(map[uint64][]int)
	for i := range lines {
		li := &lines[i]
		if li.malformed {
			out = append(out, lineFinding{ModifiedRecord, li.num, 0, fmt.Sprintf("line %d is not an audit line: it was changed", li.num)})
			continue
		}
		if !li.selfOK {
			out = append(out, lineFinding{ModifiedRecord, li.num, li.seq, fmt.Sprintf("seq %d: the line does not match its hash: it was changed after it was written", li.seq)})
		}
		bySeq[li.seq] = append(bySeq[li.seq], i)
	}
	seqs := make([]uint64, 0, len(bySeq))
	for q := range bySeq {
		if q >= first {
			seqs = append(seqs, q)
		}
	}
	slices.Sort(seqs)

	inChain := make([]bool, len(lines))
	linksForward := func(i int) bool {
		for _, j := range bySeq[lines[i].seq+1] {
			if lines[j].prev == lines[i].hash {
				return true
			}
		}
		return false
	}
	malformedBetween := func(a, b int) int { // malformed lines between line numbers a and b
		n := 0
		for i := range lines {
			if lines[i].malformed && lines[i].num > a && lines[i].num < b {
				n++
			}
		}
		return n
	}
	prev := -1
	next := first
	for _, q := range seqs {
		cands := bySeq[q]
		pick := -1
		linked := false
		for _, c := range cands {
			if prev >= 0 && q == next && lines[c].prev != lines[prev].hash {
				continue
			}
			if pick < 0 || (!linked && linksForward(c)) {
				pick, linked = c, linksForward(c)
			}
		}
		broken := false
		if pick < 0 { // nothing links to the line before: pick anyway and say so
			broken = true
			for _, c := range cands {
				if pick < 0 || (!linked && linksForward(c)) {
					pick, linked = c, linksForward(c)
				}
			}
		}
		li := &lines[pick]
		if q > next {
			lo := 0
			if prev >= 0 {
				lo = lines[prev].num
			}
			if uint64(malformedBetween(lo, li.num)) < q-next {
				msg := fmt.Sprintf("seq %d is missing: it was deleted", next)
				if q-next > 1 {
					msg = fmt.Sprintf("seq %d to %d (%d records) are missing: they were deleted", next, q-1, q-next)
				}
				out = append(out, lineFinding{DeletedRecord, li.num, next, msg + fmt.Sprintf(" (before line %d)", li.num)})
			}
		} else if broken && prev >= 0 && li.selfOK && lines[prev].selfOK { // a changed line is reported already
			out = append(out, lineFinding{ModifiedRecord, lines[prev].num, lines[prev].seq, fmt.Sprintf(
				"seq %d (line %d) does not link to seq %d (line %d): one of them was rewritten with a recomputed hash",
				q, li.num, lines[prev].seq, lines[prev].num)})
		}
		if prev >= 0 && li.num < lines[prev].num {
			out = append(out, lineFinding{ReorderedRecord, li.num, q, fmt.Sprintf(
				"seq %d (line %d) comes before seq %d (line %d): records were reordered", q, li.num, lines[prev].seq, lines[prev].num)})
		}
		inChain[pick] = true
		prev = pick
		next = q + 1
	}
	for i := range lines {
		li := &lines[i]
		if !li.malformed && !inChain[i] {
			out = append(out, lineFinding{InsertedRecord, li.num, li.seq, fmt.Sprintf(
				"line %d (seq %d) is not part of the chain: it was inserted", li.num, li.seq)})
		}
	}
	slices.SortStableFunc(out, func(a, b lineFinding) int { return a.line - b.line })
	return out
}

// eventTimeKey is how a record's eventTime starts. Record's fields come in
// a fixed order and eventTime precedes every free-form field, and a quote
// inside a JSON string is escaped, so the first occurrence in a record
// written by ztgate is the record's own eventTime.
var eventTimeKey = []byte(`"eventTime":"`)

// recordEventTime finds a record's eventTime without parsing the record.
func recordEventTime(rec []byte) (time.Time, bool) {
	i := bytes.Index(rec, eventTimeKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := rec[i+len(eventTimeKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return t, err == nil
}
