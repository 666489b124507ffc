package workload

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestJWTSVIDs(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newJWTCA(t, clock), clock, []Entry{
		{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0"}},
		{ID: "a-again", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:gid:0"}},
		{ID: "b", SPIFFEID: "spiffe://example.org/b", Selectors: []string{"unix:user:root"}},
		{ID: "c", SPIFFEID: "spiffe://example.org/c", Selectors: []string{"unix:uid:4242"}},
	})
	ctx := testCtx(t)
	client := h.client(ctx)

	all, err := client.FetchJWTSVIDs(ctx, jwtsvid.Params{Audience: "spiffe://example.org/db", ExtraAudiences: []string{"extra"}})
	if err != nil {
		t.Fatal(err)
	}
	var subs []string
	for _, s := range all {
		subs = append(subs, s.ID.Path())
		if len(s.Audience) != 2 || s.Audience[0] != "spiffe://example.org/db" {
			t.Errorf("audience %v", s.Audience)
		}
		if got := s.Expiry.Sub(clock.Now()); got != defaultJWTTTL {
			t.Errorf("lifetime %s, want %s", got, defaultJWTTTL)
		}
	}
	if len(subs) != 2 || subs[0] != "/a" || subs[1] != "/b" {
		t.Fatalf("JWT-SVIDs for %v, want /a once, then /b", subs)
	}

	// Asking for one identity the workload has.
	b, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "x", Subject: spiffeid.RequireFromString("spiffe://example.org/b")})
	if err != nil || b.ID.Path() != "/b" {
		t.Fatalf("FetchJWTSVID for /b: %v, %v", b, err)
	}
	// And one it has not.
	_, err = client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "x", Subject: spiffeid.RequireFromString("spiffe://example.org/c")})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("FetchJWTSVID for another workload's identity: %v, want PermissionDenied", err)
	}

	// The bundle verifies the token, and the API validates it.
	bundles, err := client.FetchJWTBundles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwtsvid.ParseAndValidate(all[0].Marshal(), bundles, []string{"extra"}); err != nil {
		t.Fatalf("token does not verify against the served JWT bundle: %v", err)
	}
	v, err := client.ValidateJWTSVID(ctx, all[0].Marshal(), "extra")
	if err != nil || v.ID.Path() != "/a" {
		t.Fatalf("ValidateJWTSVID: %v, %v", v, err)
	}
	_, err = client.ValidateJWTSVID(ctx, all[0].Marshal(), "someone-else")
	if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != "invalid JWT-SVID" {
		t.Fatalf("ValidateJWTSVID for another audience: %v, want InvalidArgument", err)
	}
	_, err = client.FetchJWTSVIDs(ctx, jwtsvid.Params{})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("FetchJWTSVID without audience: %v, want InvalidArgument", err)
	}
}

func TestJWTUnimplementedWithoutJWTIssuer(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newTestCA(t, clock), clock, []Entry{
		{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0"}},
	})
	ctx := testCtx(t)
	client := h.client(ctx)
	if _, err := client.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "x"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("FetchJWTSVID: %v", err)
	}
	if _, err := client.FetchJWTBundles(ctx); status.Code(err) != codes.Unimplemented {
		t.Errorf("FetchJWTBundles: %v", err)
	}
	if _, err := client.ValidateJWTSVID(ctx, "a.b.c", "x"); status.Code(err) != codes.Unimplemented {
		t.Errorf("ValidateJWTSVID: %v", err)
	}
}
