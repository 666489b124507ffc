package agent

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
)

// A JWT-SVID lives the TTL asked, the CA's default without one, and at
// most pki.MaxJWTTTL however long is asked; the entry's TTL, its
// X509-SVIDs', does not apply.
func TestJWTSVIDLifetime(t *testing.T) {
	e := newEnv(t)
	a := e.agentClient("web1")
	entryID := e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID(), "--ttl", "10s")
	for _, tc := range []struct {
		ttl  string
		want time.Duration
	}{
		{"", pki.DefaultJWTTTL},
		{"90s", 90 * time.Second},
		{"1h", time.Hour},
		{"24h", pki.MaxJWTTTL},
	} {
		t.Run(fmt.Sprintf("ttl %q", tc.ttl), func(t *testing.T) {
			st, body := a.call(http.MethodPost, EndpointJWTSVID, JWTSVIDRequest{EntryID: entryID, Audience: []string{"billing", "extra"}, TTL: tc.ttl})
			var resp map[string]string
			if st != 200 || json.Unmarshal(body, &resp) != nil || len(resp) != 1 || resp["token"] == "" {
				t.Fatalf("%d %s", st, body)
			}
			v, err := pki.VerifyJWTSVID(resp["token"], e.ca.Bundle(), "extra", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Expiry.Sub(v.IssuedAt); got != tc.want {
				t.Fatalf("lives %s, want %s", got, tc.want)
			}
			if !slices.Equal(v.Audience, []string{"billing", "extra"}) {
				t.Fatalf("audience %v", v.Audience)
			}
			recs := e.records(audit.CategoryIssued, "IssueJWTSVID")
			r := recs[len(recs)-1]
			if ttl, _ := r.RequestParameters["ttl"].(string); (tc.ttl == "") != (ttl == "") || ttl != "" && ttl != tc.want.String() {
				t.Fatalf("recorded ttl %q", ttl)
			}
			if r.ResponseElements["expiresAt"] != v.Expiry.UTC().Format(time.RFC3339) {
				t.Fatalf("recorded expiry %v, token's %s", r.ResponseElements["expiresAt"], v.Expiry)
			}
		})
	}
}

// The agent validates JWT-SVIDs and serves the JWT bundle from the bundle
// it holds: with the server down, too. A token signed by a key its bundle
// lacks makes it read the bundle again when it is the one issued; when it
// is one to validate, it is refused without a call.
func TestJWTSVIDBundleHeld(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	ra := e.startAgent(tok)
	iss := issuer{ra.a}
	ctx := testCtx(t)
	spiffeID := "spiffe://example.org/billing"

	// The Workload API's first read of the bundles done, the next is
	// thirty seconds away: a bundle from before the CA's JWT key.
	if _, err := workloadapi.FetchJWTBundles(ctx, ra.addr()); err != nil {
		t.Fatal(err)
	}
	full := ra.a.bundle.Load()
	b, raw := withoutJWTKeys(t, full.raw)
	stale := &heldBundle{b: b, raw: raw}
	ra.a.bundle.Store(stale)
	id, err := pki.ParseID(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	minted, err := e.ca.MintJWTSVID(id, []string{"billing"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := iss.ValidateJWTSVID(ctx, minted, "billing"); !errors.Is(err, pki.ErrUntrusted) {
		t.Fatalf("validated against a bundle without the key: %v", err)
	}
	if ra.a.bundle.Load() != stale {
		t.Fatal("validation read the bundle from the server")
	}
	issued, err := iss.IssueJWTSVID(ctx, spiffeID, []string{"billing"}, time.Minute)
	if err != nil {
		t.Fatalf("issue with a stale bundle: %v\n%s", err, ra.logs)
	}
	if got := ra.a.bundle.Load(); got == stale || len(got.b.JWTKeyIDs()) == 0 {
		t.Fatal("the bundle was not read again")
	}
	if sub, claims, err := iss.ValidateJWTSVID(ctx, issued, "billing"); err != nil || sub != spiffeID || claims["sub"] != spiffeID {
		t.Fatalf("validate: %s %v %v", sub, claims, err)
	}
	// The agent's own checks, before any call.
	if _, err := iss.IssueJWTSVID(ctx, spiffeID, nil, time.Minute); err == nil {
		t.Fatal("issued without an audience")
	}
	if _, err := iss.IssueJWTSVID(ctx, "spiffe://example.org/payroll", []string{"billing"}, time.Minute); err == nil {
		t.Fatal("issued for an id no entry names")
	}
	if n := len(e.records(audit.CategoryAuthFail, "IssueJWTSVID")); n != 0 {
		t.Fatalf("%d refusals: the agent called the server", n)
	}

	// Server down: tokens are validated and the bundle served, none is
	// issued.
	e.stopTLS()
	if _, err := workloadapi.ValidateJWTSVID(ctx, issued, "billing", ra.addr()); err != nil {
		t.Fatalf("validate with the server down: %v", err)
	}
	bundles, err := workloadapi.FetchJWTBundles(ctx, ra.addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwtsvid.ParseAndValidate(issued, bundles, []string{"billing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := workloadapi.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "billing"}, ra.addr()); status.Code(err) != codes.Unavailable {
		t.Fatalf("fetch with the server down: %v, want Unavailable", err)
	}
}

// The JWT bundle is a JWKS of the CA's JWT keys alone, the same bytes for
// the same bundle, that go-spiffe and ParseBundle both read.
func TestJWKS(t *testing.T) {
	e := newEnv(t)
	b := e.ca.Bundle()
	doc, err := jwks(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := jwks(b)
	if !bytes.Equal(doc, again) {
		t.Fatal("jwks is not deterministic")
	}
	gs, err := jwtbundle.Parse(spiffeid.RequireTrustDomainFromString(testTD), doc)
	if err != nil {
		t.Fatalf("go-spiffe: %v\n%s", err, doc)
	}
	if got := slices.Sorted(maps.Keys(gs.JWTAuthorities())); !slices.Equal(got, b.JWTKeyIDs()) {
		t.Fatalf("go-spiffe reads keys %v, want %v", got, b.JWTKeyIDs())
	}
	ours, err := pki.ParseBundle(b.TrustDomain(), doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(ours.X509Authorities()) != 0 || !slices.Equal(ours.JWTKeyIDs(), b.JWTKeyIDs()) {
		t.Fatalf("read back: %d x509 authorities, jwt keys %v", len(ours.X509Authorities()), ours.JWTKeyIDs())
	}
	for _, kid := range b.JWTKeyIDs() {
		want, _ := b.JWTAuthority(kid)
		got, _ := ours.JWTAuthority(kid)
		if !want.(interface{ Equal(crypto.PublicKey) bool }).Equal(got) {
			t.Fatalf("key %s changed", kid)
		}
	}
	x509Only, _ := withoutJWTKeys(t, e.bundleJSON())
	empty, err := jwks(x509Only)
	if err != nil || string(empty) != `{"keys":[]}` {
		t.Fatalf("no keys: %s, %v", empty, err)
	}
}

// withoutJWTKeys is a SPIFFE bundle's x509-svid keys alone, parsed and
// as JSON.
func withoutJWTKeys(t testing.TB, raw []byte) (*pki.Bundle, []byte) {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Keys = slices.DeleteFunc(doc.Keys, func(k map[string]any) bool { return k["use"] == "jwt-svid" })
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	td, _ := pki.ParseTrustDomain(testTD)
	out, err := pki.ParseBundle(td, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.JWTKeyIDs()) != 0 || len(out.X509Authorities()) == 0 {
		t.Fatal("withoutJWTKeys")
	}
	return out, b
}
