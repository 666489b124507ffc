package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// BenchmarkVerifyCached verifies an AWS CLI sts get-caller-identity request
// with the signing key already cached: the steady-state cost per request.
func BenchmarkVerifyCached(b *testing.B) {
	r, body := signedSTS(b)
	v := testVerifier(testTime)
	if _, err := v.Verify(r, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareHMAC is the floor Verify is measured against: the SHA-256
// of the same request's canonical request plus one HMAC-SHA256 of its
// string to sign, both precomputed as bytes.
func BenchmarkBareHMAC(b *testing.B) {
	r, body := signedSTS(b)
	v := testVerifier(testTime)
	canon, sts := canonicalOfTB(b, v, r, body)
	key := DeriveSigningKey(NewSecret(testSecret), "20260101", "us-east-1", "sts")
	cb, sb := []byte(canon), []byte(sts)
	b.ReportAllocs()
	for b.Loop() {
		sha256.Sum256(cb)
		m := hmac.New(sha256.New, key[:])
		m.Write(sb)
		m.Sum(nil)
	}
}

// BenchmarkDeriveKey is the four-HMAC signing-key chain a cache miss pays.
func BenchmarkDeriveKey(b *testing.B) {
	s := NewSecret(testSecret)
	b.ReportAllocs()
	for b.Loop() {
		DeriveSigningKey(s, "20260101", "us-east-1", "sts")
	}
}
