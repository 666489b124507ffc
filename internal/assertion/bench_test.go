package assertion

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// The peers: BenchmarkECDSASign is the bare P-256 signature Sign wraps,
// over a digest of a token-sized input; BenchmarkECDSAVerify the bare
// verification KeySet.Verify wraps.

func BenchmarkSign(b *testing.B) {
	e := newEnv(b)
	s := e.signer(b)
	c := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCached is a hit: the clock stands still, so the assertion
// stays fresh.
func BenchmarkCached(b *testing.B) {
	e := newEnv(b)
	s := e.signer(b)
	c := testClaims()
	key := "sess-1|" + testAudience
	mustCached(b, s, key, c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Cached(key, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify includes parsing the JWKS, as Verify does every call.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	s := e.signer(b)
	tok, jwks, now := mustSign(b, s, testClaims()), s.JWKS(), e.clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, jwks, testAudience, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeySetVerify is Verify with the JWKS parsed once, as an
// upstream would.
func BenchmarkKeySetVerify(b *testing.B) {
	e := newEnv(b)
	s := e.signer(b)
	tok, now := mustSign(b, s, testClaims()), e.clock.Now()
	ks, err := ParseJWKS(s.JWKS())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ks.Verify(tok, testAudience, now); err != nil {
			b.Fatal(err)
		}
	}
}

func peerDigest(b testing.TB) (*ecdsa.PrivateKey, [32]byte) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return priv, sha256.Sum256(make([]byte, 600))
}

func BenchmarkECDSASign(b *testing.B) {
	priv, digest := peerDigest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkECDSAVerify(b *testing.B) {
	priv, digest := peerDigest(b)
	sig, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
			b.Fatal("does not verify")
		}
	}
}

// TestAllocs enforces the allocation budgets measured by the benchmarks:
// none for a cache hit, and for Sign the jti, the device's JSON, the token
// and what crypto/ecdsa allocates itself.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := newEnv(t)
	s := e.signer(t)
	c := testClaims()
	mustCached(t, s, "k", c)
	// AllocsPerRun counts every goroutine's allocations, the store's
	// background work too, which can land in a run on a busy machine:
	// the hit is allocation-free when one of a few tries measures none.
	n := 1.0
	for try := 0; try < 5 && n != 0; try++ {
		n = testing.AllocsPerRun(100, func() { mustCached(t, s, "k", c) })
	}
	if n != 0 {
		t.Errorf("Cached hit: %.0f allocations, budget 0", n)
	}
	// crypto/ecdsa's own allocations change with Go releases: the
	// budget is over the peer's, measured here.
	priv, digest := peerDigest(t)
	peer := testing.AllocsPerRun(100, func() {
		if _, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); err != nil {
			t.Fatal(err)
		}
	})
	const overPeer = 16
	if n := testing.AllocsPerRun(100, func() { mustSign(t, s, c) }); n > peer+overPeer {
		t.Errorf("Sign: %.0f allocations, budget %.0f (ecdsa's %.0f and %d)", n, peer+overPeer, peer, overPeer)
	}
}
