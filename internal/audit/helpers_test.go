package audit

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
)

func testKEK(t testing.TB) *secret.KEK {
	t.Helper()
	k, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond) // distinct times, in order
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func openTest(t testing.TB, o Options) *Writer {
	t.Helper()
	if o.Node == "" {
		o.Node = "node-1"
	}
	w, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// decisionRecord is a realistic gateway decision.
func decisionRecord(i int) *Record {
	decision := Allowed
	if i%5 == 4 {
		decision = ImplicitDeny
	}
	return DecisionEvent{
		Actor: Actor{
			Identity: UserIdentity{
				Type:        "AssumedRole",
				PrincipalID: "AROAEXAMPLE:ci-run-42",
				ARN:         "arn:zt:sts::123456789012:assumed-role/deployer/ci-run-42",
				AccountID:   "123456789012",
				AccessKeyID: "ASIAEXAMPLEKEY000001",
				SessionContext: &SessionContext{
					SessionIssuer: &SessionIssuer{Type: "Role", PrincipalID: "AROAEXAMPLE", ARN: "arn:zt:iam::123456789012:role/deployer", AccountID: "123456789012", UserName: "deployer"},
					Attributes:    SessionAttribute{CreationDate: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC), MFAAuthenticated: false},
				},
			},
			SourceIP:   "203.0.113.7",
			UserAgent:  "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 botocore/2.0",
			TLS:        &TLSDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ClientProvidedHostHeader: "api.example.com"},
			AuthMethod: "sigv4",
			Device:     &Device{ID: "dev-7f3a", Managed: true, Compliant: true, Platform: "linux"},
			Risk:       &Risk{Score: 12, Level: "low"},
			Region:     "eu-west-1",
		},
		Source:    SourceGateway,
		Name:      "GET",
		RequestID: fmt.Sprintf("req-%08d", i),
		Action:    "http:GET",
		Resources: []Resource{{ARN: "arn:zt:gateway::123456789012:route/api/v1/items", Type: "Route"}},
		Route:     "api",
		Decision:  decision,
		Matched:   []Statement{{Policy: "arn:zt:iam::123456789012:policy/api-read", Sid: "ReadItems", Index: 0, Effect: "Allow"}},
		ReadOnly:  true,
		Parameters: map[string]any{
			"path":  fmt.Sprintf("/v1/items/%d", i),
			"query": "limit=10",
		},
	}.Record()
}

// writeLog writes n records through a fresh writer and closes it.
func writeLog(t testing.TB, o Options, n int) {
	t.Helper()
	w := openTest(t, o)
	for i := range n {
		if err := w.Append(context.Background(), decisionRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// nodeFiles lists a node's segment and digest names, sorted.
func nodeFiles(t testing.TB, dir, node string) (segs, digs []string) {
	t.Helper()
	for _, sub := range []struct {
		dir string
		ext string
		out *[]string
	}{{segmentsDir, segmentExt, &segs}, {digestsDir, digestExt, &digs}} {
		ents, err := os.ReadDir(filepath.Join(dir, node, sub.dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if _, ok := parseSeqName(e.Name(), sub.ext); ok {
				*sub.out = append(*sub.out, e.Name())
			}
		}
	}
	slices.Sort(segs)
	slices.Sort(digs)
	return segs, digs
}

// readLines reads a file's lines, newlines kept.
// readLines reads a segment's lines, up to the zeros after the records
// of an open one.
func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	r := bufio.NewReader(f)
	for {
		if c, err := r.Peek(1); err == nil && c[0] == 0 {
			return out // the writer's zeros after the records
		}
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			out = append(out, b)
		}
		if err != nil {
			return out
		}
	}
}

func writeLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(b, l...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// eventIDs returns every record's eventID in the node's segments.
func eventIDs(t testing.TB, dir, node string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	segs, _ := nodeFiles(t, dir, node)
	for _, s := range segs {
		for _, l := range readLines(t, filepath.Join(dir, node, segmentsDir, s)) {
			pl, err := parseLine(l[:len(l)-1])
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			var r Record
			if err := json.Unmarshal(pl.record, &r); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			ids[r.EventID] = true
		}
	}
	return ids
}

func verifyDir(t testing.TB, dir string) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), VerifyOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func mustClean(t testing.TB, rep *Report) {
	t.Helper()
	if len(rep.Findings) > 0 {
		for _, f := range rep.Findings {
			t.Error(f)
		}
		t.FailNow()
	}
}
