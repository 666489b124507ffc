package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
)

// DeriveSigningKey computes the SigV4 signing key: HMAC-SHA256 chained over
// date (YYYYMMDD), region, service and "aws4_request", keyed first by
// "AWS4" + secret.
func DeriveSigningKey(secret Secret, date, region, service string) [32]byte {
	var k [32]byte
	buf := make([]byte, 0, 4+len(secret.v))
	buf = append(buf, "AWS4"...)
	buf = append(buf, secret.v...)
	h := hmac.New(sha256.New, buf)
	h.Write([]byte(date))
	h.Sum(k[:0])
	clear(buf)
	for _, part := range [...]string{region, service, terminator} {
		h = hmac.New(sha256.New, k[:])
		h.Write([]byte(part))
		h.Sum(k[:0])
	}
	return k
}
