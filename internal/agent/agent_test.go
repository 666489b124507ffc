package agent

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pki"
)

// A workload matching an entry gets an X509-SVID with the entry's ID,
// issued by the node's CA through the agent.
func TestJoinAndFetch(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	if !strings.HasPrefix(tok, tokenPrefix) || len(tok) != tokenLen {
		t.Fatalf("token %q", tok)
	}
	entryID := e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	ra := e.startAgent(tok)

	svid, err := workloadapi.FetchX509SVID(testCtx(t), ra.addr())
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, ra.logs)
	}
	if got := svid.ID.String(); got != "spiffe://example.org/billing" {
		t.Fatalf("svid id %s", got)
	}
	if _, err := e.ca.VerifySVID(svid.Certificates); err != nil {
		t.Fatalf("the workload's svid does not verify against the ca: %v", err)
	}

	// The agent's own identity, saved owner-only.
	fi, err := os.Stat(filepath.Join(ra.dir, svidFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("svid.pem: %v, mode %v", err, fi.Mode())
	}
	_, agentSVID := ra.creds(t)
	if got := agentSVID.ID.String(); got != "spiffe://example.org/ztgate/agent/web1" {
		t.Fatalf("agent id %s", got)
	}
	out := e.mustAdmin("list")
	if !strings.Contains(out, "web1") || !strings.Contains(out, "active") || !strings.Contains(out, serialText(agentSVID.Certificates[0].SerialNumber)) {
		t.Fatalf("agent list:\n%s", out)
	}

	// Audited: the join and the workload's issuance, by the agent.
	joins := e.records(audit.CategoryIssued, "JoinAgent")
	if len(joins) != 1 || joins[0].UserIdentity.ARN != "spiffe://example.org/ztgate/agent/web1" || joins[0].EventSource != audit.SourcePKI {
		t.Fatalf("join records: %+v", joins)
	}
	issued := e.records(audit.CategoryIssued, "IssueWorkloadSVID")
	if len(issued) == 0 || issued[0].RequestParameters["entryId"] != entryID || issued[0].UserIdentity.UserName != "web1" {
		t.Fatalf("issue records: %+v", issued)
	}
	if tokens := e.records(audit.CategoryAdmin, "CreateJoinToken"); len(tokens) != 1 || strings.Contains(mustJSON(t, tokens[0]), tok) {
		t.Fatalf("token records hold the token, or are missing: %+v", tokens)
	}
	if strings.Contains(ra.logs.String(), tok) || strings.Contains(e.logs.String(), tok) {
		t.Fatal("a log holds the join token")
	}
}

// A workload matching an entry gets a JWT-SVID for the entry's ID, minted
// by the node's CA through the agent; the JWT bundle the agent serves
// verifies it, and the agent validates it for its audience only.
func TestJWTSVIDs(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	entryID := e.entry("web1", "spiffe://example.org/billing", "--selector", selfUID())
	ra := e.startAgent(tok)
	ctx := testCtx(t)

	svid, err := workloadapi.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "billing"}, ra.addr())
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, ra.logs)
	}
	if got := svid.ID.String(); got != "spiffe://example.org/billing" {
		t.Fatalf("jwt-svid subject %s", got)
	}
	// The Workload API's lifetime, five minutes.
	if life := time.Until(svid.Expiry); life > 5*time.Minute+time.Second || life < 4*time.Minute {
		t.Fatalf("jwt-svid lives %s", life)
	}
	token := svid.Marshal()

	bundles, err := workloadapi.FetchJWTBundles(ctx, ra.addr())
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundles.GetJWTBundleForTrustDomain(spiffeid.RequireTrustDomainFromString(testTD))
	if err != nil {
		t.Fatal(err)
	}
	kids := slices.Sorted(maps.Keys(b.JWTAuthorities()))
	if want := e.ca.Bundle().JWTKeyIDs(); len(want) == 0 || !slices.Equal(kids, want) {
		t.Fatalf("jwt bundle keys %v, the ca's %v", kids, want)
	}
	parsed, err := jwtsvid.ParseAndValidate(token, bundles, []string{"billing"})
	if err != nil || parsed.ID != svid.ID {
		t.Fatalf("the agent's jwt bundle does not verify the token: %v", err)
	}
	if _, err := pki.VerifyJWTSVID(token, e.ca.Bundle(), "billing", time.Now()); err != nil {
		t.Fatalf("the ca does not verify the token: %v", err)
	}

	// Validation by the agent, against the bundle it holds.
	v, err := workloadapi.ValidateJWTSVID(ctx, token, "billing", ra.addr())
	if err != nil || v.ID != svid.ID {
		t.Fatalf("validate: %v, %v", v, err)
	}
	if _, err := workloadapi.ValidateJWTSVID(ctx, token, "payroll", ra.addr()); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("validate for another audience: %v, want InvalidArgument", err)
	}
	forged := token[:len(token)-4] + "AAAA"
	if _, err := workloadapi.ValidateJWTSVID(ctx, forged, "billing", ra.addr()); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("validate a forged signature: %v, want InvalidArgument", err)
	}

	// Audited by a digest of the token, which no record or log holds.
	recs := e.records(audit.CategoryIssued, "IssueJWTSVID")
	if len(recs) != 1 {
		t.Fatalf("%d issue records", len(recs))
	}
	r := recs[0]
	if r.RequestParameters["entryId"] != entryID || r.RequestParameters["spiffeId"] != "spiffe://example.org/billing" ||
		fmt.Sprint(r.RequestParameters["audience"]) != "[billing]" || r.UserIdentity.UserName != "web1" ||
		r.EventSource != audit.SourcePKI || r.ResponseElements["svidDigest"] != jwtDigest(token) {
		t.Fatalf("issue record: %+v", r)
	}
	if exp, _ := r.ResponseElements["expiresAt"].(string); exp != svid.Expiry.UTC().Format(time.RFC3339) {
		t.Fatalf("expiresAt %q, token expires %s", exp, svid.Expiry)
	}
	_, payload, _ := strings.Cut(token, ".")
	payload, _, _ = strings.Cut(payload, ".")
	for what, text := range map[string]string{"audit": mustJSON(t, e.audit.Records()), "server log": e.logs.String(), "agent log": ra.logs.String()} {
		if strings.Contains(text, token) || strings.Contains(text, payload) {
			t.Errorf("the %s holds the token", what)
		}
	}
}

// A process matching no entry gets nothing.
func TestNoEntryNoIdentity(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	e.entry("web1", "spiffe://example.org/other", "--selector", "unix:uid:4242")
	ra := e.startAgent(tok)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := workloadapi.FetchX509SVID(ctx, ra.addr())
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("fetch: %v, want PermissionDenied", err)
	}
	_, err = workloadapi.FetchJWTSVID(ctx, jwtsvid.Params{Audience: "billing"}, ra.addr())
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("fetch jwt-svid: %v, want PermissionDenied", err)
	}
	if n := len(e.records(audit.CategoryIssued, "IssueJWTSVID")); n != 0 {
		t.Fatalf("%d jwt-svids issued", n)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
