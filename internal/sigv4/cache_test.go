package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
)

// TestFingerprint: a secret's fingerprint is stable, changes with the
// secret, and depends on the Verifier's own seed.
func TestFingerprint(t *testing.T) {
	v := testVerifier(testTime)
	v.init()
	old, rotated := NewSecret(testSecret), NewSecret(testSecret+"-rotated")
	if v.fingerprint(old) != v.fingerprint(NewSecret(testSecret)) {
		t.Fatal("one secret, two fingerprints")
	}
	if v.fingerprint(old) == v.fingerprint(rotated) {
		t.Fatal("a rotated secret keeps its fingerprint")
	}
	// The seed is the Verifier's own: fingerprints are not comparable
	// across processes or Verifiers.
	w := testVerifier(testTime)
	w.init()
	if v.fingerprint(old) == w.fingerprint(old) {
		t.Fatal("two Verifiers share a fingerprint seed")
	}
}

// TestRotatedSecret: once the store returns a new secret, a request signed
// with the old one must fail even though its derived key is cached, and
// requests signed with the new one must verify.
func TestRotatedSecret(t *testing.T) {
	const newSecret = "ztgate-rotated-secret-9876543210zyxwvuts"
	keys := fakeKeys{testAKID: {AccessKeyID: testAKID, Secret: NewSecret(testSecret)}}
	v := testVerifier(testTime)
	v.Keys = keys

	oldReq, oldBody := signedSTS(t)
	if _, err := v.Verify(oldReq, oldBody); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(oldReq, oldBody); err != nil { // from the cache
		t.Fatal(err)
	}

	keys[testAKID] = Credentials{AccessKeyID: testAKID, Secret: NewSecret(newSecret)}
	_, err := v.Verify(oldReq, oldBody)
	wantCode(t, err, CodeSignatureDoesNotMatch)

	newReq, newBody := stsRequest()
	sign(t, newReq, newBody, newSecret, testAKID, "us-east-1", "sts", testTime, "content-type;host;x-amz-date")
	for range 2 {
		if _, err := v.Verify(newReq, newBody); err != nil {
			t.Fatal(err)
		}
	}
	// The stale key was replaced, not kept beside the new one.
	if n := v.keyCache.len(); n != 1 {
		t.Errorf("cache holds %d keys for one credential scope", n)
	}
	k, _ := v.keyCache.get(testAKID + "/20260101/us-east-1/sts/aws4_request")
	if k == nil || k.key != DeriveSigningKey(NewSecret(newSecret), "20260101", "us-east-1", "sts") {
		t.Error("cached key is not the new secret's")
	}
	_, err = v.Verify(oldReq, oldBody)
	wantCode(t, err, CodeSignatureDoesNotMatch)
}

// TestMACKey: resuming the precomputed pad states gives crypto/hmac's
// answer for every message length around the block boundaries.
func TestMACKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	msg := make([]byte, 300)
	for i := range msg {
		msg[i] = byte(rng.Uint32())
	}
	for n := range len(msg) + 1 {
		var key [32]byte
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		m := hmac.New(sha256.New, key[:])
		m.Write(msg[:n])
		want := m.Sum(nil)
		mk := newMACKey(0, key)
		if got := s.hmacSHA256(mk, msg[:n]); !hmac.Equal(got[:], want) {
			t.Fatalf("len %d: %x, want %x", n, got, want)
		}
		// Twice: the states must not be consumed by use.
		if got := s.hmacSHA256(mk, msg[:n]); !hmac.Equal(got[:], want) {
			t.Fatalf("len %d, again: %x, want %x", n, got, want)
		}
	}
}

// TestEqual32 holds the word-wise comparison to crypto/subtle's, for
// equal arrays and for a difference in every bit.
func TestEqual32(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a [32]byte
	for i := range a {
		a[i] = byte(rng.Uint32())
	}
	b := a
	if !equal32(&a, &b) {
		t.Fatal("equal arrays differ")
	}
	for bit := range 256 {
		b := a
		b[bit/8] ^= 1 << (bit % 8)
		if equal32(&a, &b) || subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
			t.Fatalf("bit %d: difference missed", bit)
		}
	}
}

// TestVerifyAllocsResultOnly holds verification with a cached key to the
// one allocation it needs, the Result (whose first eight signed header
// names share it), for requests signing few and many headers: the
// request and header state must stay on the stack.
func TestVerifyAllocsResultOnly(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation budgets are checked without -race: the race detector allocates")
	}
	for _, extra := range []int{0, 5} {
		r, body := stsRequest()
		signed := "content-type;host;x-amz-date"
		for i := range extra {
			k := "x-amz-meta-" + string(rune('a'+i))
			r.Header.Set(k, "v")
			signed += ";" + k
		}
		sign(t, r, body, testSecret, testAKID, "us-east-1", "sts", testTime, signed)
		v := testVerifier(testTime)
		if _, err := v.Verify(r, body); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(200, func() {
			if _, err := v.Verify(r, body); err != nil {
				t.Fatal(err)
			}
		})
		if n > 1 {
			t.Errorf("%d signed headers: Verify allocates %v times per call, budget 1", 3+extra, n)
		}
	}
}

// TestVerifyConcurrent shares one Verifier, its key cache and its pooled
// hashers among goroutines verifying requests of several credential
// scopes, for the race detector to watch.
func TestVerifyConcurrent(t *testing.T) {
	v := testVerifier(testTime)
	v.CacheSize = 2 // so that keys are evicted and derived again meanwhile
	type signed struct {
		r    *http.Request
		body []byte
	}
	var reqs []signed
	for _, service := range []string{"sts", "iam", "s3", "sqs"} {
		r, body := stsRequest()
		sign(t, r, body, testSecret, testAKID, "us-east-1", service, testTime, "content-type;host;x-amz-date")
		reqs = append(reqs, signed{r, body})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := reqs[(g+i)%len(reqs)]
				if _, err := v.Verify(s.r, s.body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
