package webidentity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// counts fails unless the IdP has served exactly this many discovery
// documents and JWKS.
func counts(t *testing.T, idp *fakeIdP, discoveries, fetches int32) {
	t.Helper()
	if d, f := idp.discoveries.Load(), idp.fetches.Load(); d != discoveries || f != fetches {
		t.Fatalf("IdP served %d discoveries and %d JWKS, want %d and %d", d, f, discoveries, fetches)
	}
}

func verify(t *testing.T, v *Verifier, token string, want error) {
	t.Helper()
	_, err := v.Verify(context.Background(), token)
	checkErr(t, err, want, token)
}

// TestUnknownKidRefetch: an unknown kid triggers one refetch, and then no
// other for 30 seconds, however many tokens with unknown kids arrive.
func TestUnknownKidRefetch(t *testing.T) {
	k1 := newKey(t, jose.ES256, "k1")
	idp := newIdP(t, k1)
	clock := newFakeClock()
	v, _ := newVerifier(t, clock, idp)

	verify(t, v, k1.sign(t, idp.claims()), nil)
	counts(t, idp, 1, 1)

	random := func(i int) string {
		return testKey{kid: fmt.Sprintf("random-%d", i), alg: jose.ES256, priv: k1.priv}.sign(t, idp.claims())
	}
	verify(t, v, random(0), ErrSignature)
	counts(t, idp, 1, 1) // the first fetch counts: no refetch within 30 s
	clock.Advance(minRefetchInterval)
	verify(t, v, random(1), ErrSignature)
	counts(t, idp, 2, 2) // one refetch, discovery included

	// A flood, concurrent and sequential, within the 30 seconds.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), random(i+2)); !errors.Is(err, ErrSignature) {
				t.Errorf("random kid: %v", err)
			}
		})
	}
	wg.Wait()
	clock.Advance(29 * time.Second)
	verify(t, v, random(100), ErrSignature)
	counts(t, idp, 2, 2)
	verify(t, v, k1.sign(t, idp.claims()), nil) // known keys unaffected

	clock.Advance(2 * time.Second)
	verify(t, v, random(101), ErrSignature)
	counts(t, idp, 3, 3)

	// A token without kid that no key verifies is treated alike.
	noKid := rawES256(t, newKey(t, jose.ES256, ""), `{"alg":"ES256"}`, idp.claims())
	verify(t, v, noKid, ErrSignature)
	counts(t, idp, 3, 3)
	clock.Advance(31 * time.Second)
	verify(t, v, noKid, ErrSignature)
	counts(t, idp, 4, 4)
}

// TestKeyRotation: a key the IdP adds is picked up by the refetch its
// unknown kid triggers; a key it removes stops working once the cache is
// refreshed.
func TestKeyRotation(t *testing.T) {
	k1 := newKey(t, jose.ES256, "k1")
	k2 := newKey(t, jose.RS256, "k2")
	idp := newIdP(t, k1)
	clock := newFakeClock()
	v, logs := newVerifier(t, clock, idp)
	claims := idp.claims()
	claims["exp"] = testNow.Add(3 * time.Hour).Unix()

	old := k1.sign(t, claims)
	verify(t, v, old, nil)
	idp.setKeys(k1, k2) // publish the next key ahead of using it
	clock.Advance(time.Minute)
	verify(t, v, k2.sign(t, claims), nil)
	verify(t, v, old, nil)
	counts(t, idp, 2, 2)

	idp.setKeys(k2)        // retire k1
	verify(t, v, old, nil) // still cached
	clock.Advance(DefaultCacheTTL)
	verify(t, v, k2.sign(t, claims), nil) // TTL over: refetched
	counts(t, idp, 3, 3)
	verify(t, v, old, ErrSignature)
	if !strings.Contains(logs.String(), "jwks fetched") {
		t.Errorf("no fetch logged:\n%s", logs)
	}
}

// TestIdPDown: cached keys keep working while the IdP is down, until their
// TTL ends; then, and without keys from the start, Verify fails with
// ErrProvider, retrying the IdP at most every few seconds.
func TestIdPDown(t *testing.T) {
	k1 := newKey(t, jose.ES256, "k1")

	t.Run("with cached keys", func(t *testing.T) {
		idp := newIdP(t, k1)
		clock := newFakeClock()
		v, _ := newVerifier(t, clock, idp)
		tok := k1.sign(t, idp.claims())
		verify(t, v, tok, nil)
		idp.setDown(true)
		clock.Advance(time.Minute)
		verify(t, v, tok, nil)

		// An unknown kid: the refetch fails, which is the IdP's fault.
		other := testKey{kid: "k2", alg: jose.ES256, priv: k1.priv}.sign(t, idp.claims())
		verify(t, v, other, ErrProvider)
		counts(t, idp, 2, 1)
		verify(t, v, other, ErrProvider) // rate limited, same verdict
		verify(t, v, tok, nil)
		counts(t, idp, 2, 1)

		// Past the TTL the cached keys are no longer trusted.
		clock.Advance(DefaultCacheTTL)
		verify(t, v, tok, ErrProvider)
		idp.setDown(false)
		clock.Advance(retryInterval)
		verify(t, v, tok, ErrExpired) // keys back; the token is old now
	})

	t.Run("without keys", func(t *testing.T) {
		idp := newIdP(t, k1)
		idp.setDown(true)
		clock := newFakeClock()
		v, logs := newVerifier(t, clock, idp)
		tok := k1.sign(t, idp.claims())
		verify(t, v, tok, ErrProvider)
		verify(t, v, tok, ErrProvider)
		counts(t, idp, 1, 0) // the second was not retried
		clock.Advance(retryInterval)
		verify(t, v, tok, ErrProvider)
		counts(t, idp, 2, 0)
		idp.setDown(false)
		clock.Advance(retryInterval)
		verify(t, v, tok, nil)
		if !strings.Contains(logs.String(), "jwks fetch failed") {
			t.Errorf("failure not logged:\n%s", logs)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		idp := newIdP(t, k1)
		tok := k1.sign(t, idp.claims())
		v, _ := newVerifier(t, newFakeClock(), idp)
		idp.srv.Close()
		verify(t, v, tok, ErrProvider)
	})
}

// TestProviderResponses: what the IdP serves must be right.
func TestProviderResponses(t *testing.T) {
	k1 := newKey(t, jose.ES256, "k1")
	for _, tc := range []struct {
		name  string
		setup func(p *fakeIdP)
		want  error
	}{
		{"discovery issuer mismatch", func(p *fakeIdP) { p.issuer = "https://accounts.example.com" }, ErrProvider},
		{"discovery issuer with trailing slash", func(p *fakeIdP) { p.issuer = p.URL + "/" }, ErrProvider},
		{"jwks over 1 MiB", func(p *fakeIdP) {
			p.jwksBody = []byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxResponseBytes) + `"}`)
		}, ErrProvider},
		{"jwks not json", func(p *fakeIdP) { p.jwksBody = []byte("<html>") }, ErrProvider},
		{"jwks without usable keys", func(p *fakeIdP) {
			p.jwksBody = []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1","alg":"HS256"},{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}`)
		}, ErrProvider},
		{"jwks key bound to another alg", func(p *fakeIdP) {
			j := k1.jwk()
			j.Algorithm = "ES384"
			p.keys = []jose.JSONWebKey{j}
		}, ErrProvider},
		{"broken keys skipped", func(p *fakeIdP) {
			good, err := k1.jwk().MarshalJSON()
			if err != nil {
				panic(err)
			}
			p.jwksBody = []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"AAAA","y":"AAAA"},` +
				`{"kty":"EC","crv":"P-256","kid":"k1","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"},` +
				`{"kty":"OKP","crv":"Ed448","kid":"k1","x":"AAAA"},` +
				`{"kty":"EC","crv":"P-256","kid":"k1","d":"AAAA","x":"AAAA","y":"AAAA"},` +
				`"not an object",` + string(good) + `]}`)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp := newIdP(t, k1)
			tc.setup(idp)
			v, logs := newVerifier(t, newFakeClock(), idp)
			tok := k1.sign(t, idp.claims())
			_, err := v.Verify(context.Background(), tok)
			t.Log(err)
			checkErr(t, err, tc.want, tok)
			checkNoToken(t, logs.String(), tok)
		})
	}
}

// TestJWKSURL: a configured JWKS URL is used as is, without discovery.
func TestJWKSURL(t *testing.T) {
	k1 := newKey(t, jose.EdDSA, "k1")
	idp := newIdP(t, k1)
	idp.issuer = "https://not-checked.example.com" // discovery is not asked
	v, err := New(Config{
		Issuers: []Issuer{{URL: idp.URL, JWKSURL: idp.URL + "/jwks", Audiences: []string{testAudience}}},
		Clock:   newFakeClock().Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, v, k1.sign(t, idp.claims()), nil)
	counts(t, idp, 0, 1)
}

// TestFetchCoalesced: tokens arriving while the keys are being fetched
// wait for that one fetch.
func TestFetchCoalesced(t *testing.T) {
	k1 := newKey(t, jose.ES256, "k1")
	idp := newIdP(t, k1)
	gate := make(chan struct{})
	idp.gate = gate
	v, _ := newVerifier(t, newFakeClock(), idp)
	tok := k1.sign(t, idp.claims())

	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	// Wait for the fetch to reach the IdP, then for the others to queue.
	for idp.fetches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	counts(t, idp, 1, 1)
}

// TestFetchOutlivesCaller: a caller that gives up while the keys are being
// fetched gets ErrProvider at once; the fetch completes for the next one.
func TestFetchOutlivesCaller(t *testing.T) {
	k1 := newKey(t, jose.ES256, "k1")
	idp := newIdP(t, k1)
	gate := make(chan struct{})
	idp.gate = gate
	v, _ := newVerifier(t, newFakeClock(), idp)
	tok := k1.sign(t, idp.claims())

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for idp.fetches.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := v.Verify(ctx, tok)
	checkErr(t, err, ErrProvider, tok)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not say the caller gave up", err)
	}
	close(gate)
	verify(t, v, tok, nil)
	counts(t, idp, 1, 1)
}

// TestRedirectToHTTP: the default client follows a JWKS redirect only to
// https (or loopback http).
func TestRedirectToHTTP(t *testing.T) {
	k1 := newKey(t, jose.ES256, "k1")
	idp := newIdP(t, k1)
	v, err := New(Config{
		Issuers: []Issuer{{URL: idp.URL, JWKSURL: idp.URL + "/moved", Audiences: []string{testAudience}}},
		Clock:   newFakeClock().Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The redirect target is refused before any connection is made.
	idp.srv.Config.Handler.(interface {
		HandleFunc(string, func(http.ResponseWriter, *http.Request))
	}).HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://jwks.example.com/keys", http.StatusFound)
	})
	tok := k1.sign(t, idp.claims())
	_, err = v.Verify(context.Background(), tok)
	checkErr(t, err, ErrProvider, tok)
	if !strings.Contains(err.Error(), "redirect away from https") {
		t.Errorf("error %v", err)
	}
}
