package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ztgate/ztgate/internal/audit"
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
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
