package sigv4

import (
	"encoding/binary"
	"slices"
)

// appendHex32 appends the lowercase hex encoding of b, as
// hex.AppendEncode does, from a table of digit pairs, four bytes to a
// store: each request hashes twice into hex, and hex.Encode's nibble loop
// took twice as long.
func appendHex32(dst []byte, b *[32]byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 64)[:n+64]
	out := (*[64]byte)(dst[n:])
	for i := 0; i < 32; i += 4 {
		binary.LittleEndian.PutUint64(out[2*i:], uint64(hexPairs[b[i]])|uint64(hexPairs[b[i+1]])<<16|
			uint64(hexPairs[b[i+2]])<<32|uint64(hexPairs[b[i+3]])<<48)
	}
	return dst
}

// hexPairs holds the two lowercase hex digits of every byte, the first in
// the low byte. It is written once, here, and only read.
var hexPairs = func() (t [256]uint16) {
	const digits = "0123456789abcdef"
	for c := range t {
		t[c] = uint16(digits[c>>4]) | uint16(digits[c&15])<<8
	}
	return t
}()

// decodeHex32 decodes 64 hex digits, either case, as hex.Decode would,
// without the []byte conversion hex.Decode would need, through a table
// rather than unhex's branches: it runs on every request. s is the
// client's signature, not a secret, so decoding it need not take constant
// time.
func decodeHex32(dst *[32]byte, s string) bool {
	if len(s) != 64 {
		return false
	}
	var bad byte
	for i := range dst {
		hi, lo := hexValue[s[2*i]], hexValue[s[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo
	}
	return bad&0x80 == 0
}

// hexValue maps each hex digit to its value and every other byte to 0xff.
// It is written once, here, and only read.
var hexValue = func() (t [256]byte) {
	for c := range t {
		v, ok := unhex(byte(c))
		if !ok {
			v = 0xff
		}
		t[c] = v
	}
	return t
}()
