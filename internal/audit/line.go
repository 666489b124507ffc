package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"math"
	"strconv"
)

// The fixed parts of a segment line; see the package documentation.
const (
	lineSeq    = `{"seq":`
	linePrev   = `,"prev":"`
	lineHash   = `","hash":"`
	lineRecord = `","record":`
	hashHex    = 2 * sha256.Size

	// lineOverhead is a line's length less its record and seq digits.
	lineOverhead = len(lineSeq) + len(linePrev) + hashHex + len(lineHash) + hashHex + len(lineRecord) + len("}\n")
)

// errLine classifies a line that is not in the segment line format.
var errLine = errors.New("not an audit line")

// line is one parsed segment line. record aliases the parsed bytes.
type line struct {
	seq    uint64
	prev   [sha256.Size]byte
	hash   [sha256.Size]byte
	record []byte
}

// chainHasher computes chain hashes: SHA-256(prev || seq as 8 bytes
// big-endian || record), the value a line's hash field holds and the next
// line's prev field repeats. It is reused, so that hashing a line does not
// allocate.
type chainHasher struct {
	h   hash.Hash
	buf []byte
}

func newChainHasher() *chainHasher {
	return &chainHasher{h: sha256.New(), buf: make([]byte, 0, sha256.Size+8)}
}

func (c *chainHasher) sum(prev *[sha256.Size]byte, seq uint64, record []byte) (out [sha256.Size]byte) {
	b := append(c.buf[:0], prev[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	c.h.Reset()
	c.h.Write(b)
	c.h.Write(record)
	c.buf = c.h.Sum(b[:0])
	copy(out[:], c.buf)
	return out
}

// appendLine appends the line for a record, newline included, to dst.
func appendLine(dst []byte, seq uint64, prev, sum *[sha256.Size]byte, record []byte) []byte {
	dst = append(dst, lineSeq...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, linePrev...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, lineHash...)
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, lineRecord...)
	dst = append(dst, record...)
	return append(dst, '}', '\n')
}

// parseLine parses one line, without its newline, in exactly the form
// appendLine writes: any other spelling of the same JSON (spaces, another
// field order, upper-case hex, a leading zero) is refused, so that a line
// that parses has one byte representation. The record is not parsed; the
// chain hash covers its bytes.
func parseLine(b []byte) (l line, err error) {
	rest, ok := cut(b, lineSeq)
	if !ok {
		return l, errLine
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		d := uint64(rest[i] - '0')
		if i > 0 && l.seq == 0 || l.seq > (math.MaxUint64-d)/10 {
			return l, errLine // a leading zero, or too large
		}
		l.seq = l.seq*10 + d
		i++
	}
	if i == 0 {
		return l, errLine
	}
	if rest, ok = cut(rest[i:], linePrev); !ok {
		return l, errLine
	}
	if rest, ok = cutHex(rest, &l.prev); !ok {
		return l, errLine
	}
	if rest, ok = cut(rest, lineHash); !ok {
		return l, errLine
	}
	if rest, ok = cutHex(rest, &l.hash); !ok {
		return l, errLine
	}
	if rest, ok = cut(rest, lineRecord); !ok {
		return l, errLine
	}
	// The record is a JSON object and the line closes after it.
	if len(rest) < 3 || rest[0] != '{' || rest[len(rest)-2] != '}' || rest[len(rest)-1] != '}' {
		return l, errLine
	}
	l.record = rest[:len(rest)-1]
	return l, nil
}

func cut(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return nil, false
	}
	return b[len(prefix):], true
}

// cutHex decodes 64 lower-case hex digits into dst.
func cutHex(b []byte, dst *[sha256.Size]byte) ([]byte, bool) {
	if len(b) < hashHex {
		return nil, false
	}
	for i := 0; i < sha256.Size; i++ {
		hi, ok1 := unhex(b[2*i])
		lo, ok2 := unhex(b[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		dst[i] = hi<<4 | lo
	}
	return b[hashHex:], true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
