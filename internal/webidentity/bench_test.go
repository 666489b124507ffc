package webidentity

import (
	"context"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// benchTokens returns a verifier with its keys cached and a valid token per
// algorithm: the steady-state cost of Verify.
func benchTokens(tb testing.TB) (*Verifier, map[string]string) {
	es := newKey(tb, jose.ES256, "es")
	rs := newKey(tb, jose.RS256, "rs")
	idp := newIdP(tb, es, rs)
	v, _ := newVerifier(tb, newFakeClock(), idp)
	toks := map[string]string{
		"ES256": es.sign(tb, idp.claims()),
		"RS256": rs.sign(tb, idp.claims()),
	}
	for _, tok := range toks {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			tb.Fatal(err)
		}
	}
	return v, toks
}

func BenchmarkVerify(b *testing.B) {
	v, toks := benchTokens(b)
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			tok, ctx := toks[alg], context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParse is the part of Verify before any signature check: what a
// flood of junk tokens costs.
func BenchmarkParse(b *testing.B) {
	_, toks := benchTokens(b)
	tok := toks["ES256"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseJWS(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyAllocs enforces the allocation budget of a cached-key Verify
// (see BenchmarkVerify): the strings and slices of the Token returned, the
// decoded token parts, and the crypto's own.
func TestVerifyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const budget = 40
	v, toks := benchTokens(t)
	for alg, tok := range toks {
		n := testing.AllocsPerRun(50, func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		})
		if n > budget {
			t.Errorf("%s: %.0f allocations per Verify, budget %d", alg, n, budget)
		}
	}
}
