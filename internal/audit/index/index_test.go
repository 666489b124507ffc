package index

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/secret"
)

// writeLog writes n decision records through the real writer: callers
// user0..user4 in turn, one minute apart from base.
func writeLog(t testing.TB, dataDir, node string, n int, base time.Time) {
	t.Helper()
	k := kekFor(dataDir)
	i := 0
	w, err := audit.Open(audit.Options{Dir: filepath.Join(dataDir, "audit"), Node: node, KEK: k,
		Clock: func() time.Time { return base.Add(time.Duration(i) * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for ; i < n; i++ {
		dec := []string{"allowed", "explicitDeny", "implicitDeny"}[i%3]
		r := audit.DecisionEvent{
			Actor: audit.Actor{
				Identity: audit.UserIdentity{Type: "IAMUser", ARN: fmt.Sprintf("arn:zt:iam::111122223333:user/user%d", i%5), AccountID: "111122223333"},
				SourceIP: fmt.Sprintf("10.0.0.%d", i%7), Device: &audit.Device{ID: fmt.Sprintf("dev-%d", i%2)},
			},
			Source: audit.SourceGateway, Name: "GET", RequestID: fmt.Sprintf("req-%d", i), Action: "http:GET",
			Resources: []audit.Resource{{ARN: "arn:zt:gateway::111122223333:route/app/x"}}, Decision: dec,
		}.Record()
		r.EventTime = base.Add(time.Duration(i) * time.Minute)
		if err := w.Append(ctx, r); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

var keks = map[string]*secret.KEK{}

// kekFor gives every node of one data directory the same key.
func kekFor(dir string) *secret.KEK {
	if keks[dir] == nil {
		keks[dir], _ = secret.GenerateKEK(rand.Reader)
	}
	return keks[dir]
}

var base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func TestQuery(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "node-a", 300, base)
	x, err := Open(filepath.Join(dir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	n, err := x.Update(ctx, nil)
	if err != nil || n != 300 {
		t.Fatalf("Update: %d %v", n, err)
	}
	// Nothing new: nothing indexed twice.
	if n, _ := x.Update(ctx, nil); n != 0 {
		t.Fatalf("second Update indexed %d", n)
	}
	rows, err := x.Query(ctx, Filter{Principal: "arn:zt:iam::111122223333:user/user3", Limit: 10})
	if err != nil || len(rows) != 10 {
		t.Fatalf("by principal: %d %v", len(rows), err)
	}
	for i, r := range rows {
		if r.Principal != "arn:zt:iam::111122223333:user/user3" || (i > 0 && !r.Time.Before(rows[i-1].Time)) {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	if rows[0].Seq != 299 { // the newest of user3: i = 298, sequence numbers from 1
		t.Fatalf("newest user3 record: seq %d", rows[0].Seq)
	}
	cases := []struct {
		f    Filter
		want int
	}{
		{Filter{Decision: "explicitDeny", Limit: 1000}, 100},
		{Filter{SourceIP: "10.0.0.3", Limit: 1000}, 43},
		{Filter{Device: "dev-1", Limit: 1000}, 150},
		{Filter{Action: "http:GET", Limit: 1000}, 300},
		{Filter{Resource: "arn:zt:gateway::111122223333:route/app/x", Limit: 1000}, 300},
		{Filter{ErrorCode: "AccessDenied", Limit: 1000}, 200},
		{Filter{From: base.Add(10 * time.Minute), To: base.Add(20 * time.Minute), Limit: 1000}, 10},
		{Filter{Node: "other", Limit: 1000}, 0},
	}
	for _, c := range cases {
		rows, err := x.Query(ctx, c.f)
		if err != nil || len(rows) != c.want {
			t.Errorf("%+v: %d rows, want %d (%v)", c.f, len(rows), c.want, err)
		}
	}
	// The stored record is the record as written.
	var rec audit.Record
	if err := json.Unmarshal(rows[0].Record, &rec); err != nil || rec.EventID == "" {
		t.Fatalf("record: %v %s", err, rows[0].Record)
	}
}

// TestUpdateIncremental: records appended after an update are indexed by
// the next, and a torn last line waits until it is whole.
func TestUpdateIncremental(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "n1", 10, base)
	x, _ := Open(filepath.Join(dir, "audit"))
	defer x.Close()
	ctx := context.Background()
	x.Update(ctx, nil)
	writeLog(t, dir, "n2", 5, base)
	if n, err := x.Update(ctx, nil); n != 5 || err != nil {
		t.Fatalf("second node: %d %v", n, err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "audit", "n2", "segments", "*.jsonl"))
	f, _ := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":99,"prev":"00","hash":"00","record":{"eventTi`)
	f.Close()
	if n, err := x.Update(ctx, nil); n != 0 || err != nil {
		t.Fatalf("torn line indexed: %d %v", n, err)
	}
	if c, _ := x.Count(ctx); c != 15 {
		t.Fatalf("count %d", c)
	}
}

// TestUpdateOpenSegment: the segment a live writer is writing ends in
// the writer's zeros; the index takes its whole lines, stops at the
// zeros, and takes the records written over them by the next update.
func TestUpdateOpenSegment(t *testing.T) {
	dir := t.TempDir()
	w, err := audit.Open(audit.Options{Dir: filepath.Join(dir, "audit"), Node: "n1", KEK: kekFor(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	appendN := func(n int) {
		for i := range n {
			r := audit.DecisionEvent{Source: audit.SourceGateway, Name: "GET", RequestID: fmt.Sprintf("req-%d", i),
				Action: "http:GET", Decision: "allowed"}.Record()
			if err := w.Append(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	x, err := Open(filepath.Join(dir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	appendN(7)
	segs, _ := filepath.Glob(filepath.Join(dir, "audit", "n1", "segments", "*.jsonl"))
	if b, err := os.ReadFile(segs[0]); err != nil || b[len(b)-1] != 0 {
		t.Fatalf("the open segment does not end in zeros (%v)", err)
	}
	if n, err := x.Update(ctx, nil); n != 7 || err != nil {
		t.Fatalf("first update: %d %v, want 7", n, err)
	}
	appendN(4)
	if n, err := x.Update(ctx, nil); n != 4 || err != nil {
		t.Fatalf("second update: %d %v, want 4", n, err)
	}
	if c, _ := x.Count(ctx); c != 11 {
		t.Fatalf("count %d, want 11", c)
	}
}

// TestUpdateTornView: a reader of the live segment can see a batch being
// written over the zeros torn at page granularity: a line's start and end
// there, its middle still zeros. The index leaves the line for the next
// update instead of skipping it.
func TestUpdateTornView(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "n1", 6, base)
	segs, _ := filepath.Glob(filepath.Join(dir, "audit", "n1", "segments", "*.jsonl"))
	full, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(full, []byte("\n"))
	off := 0
	for _, l := range lines[:5] {
		off += len(l)
	}
	view := append([]byte{}, full...)
	copy(view[off+50:off+len(lines[5])-30], make([]byte, len(lines[5])-80))
	os.WriteFile(segs[0], append(view, make([]byte, 4096)...), 0o600)
	x, err := Open(filepath.Join(dir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	if n, err := x.Update(ctx, nil); n != 5 || err != nil {
		t.Fatalf("update while line 6 is being written: %d %v, want 5", n, err)
	}
	os.WriteFile(segs[0], append(append([]byte{}, full...), make([]byte, 4096)...), 0o600)
	if n, err := x.Update(ctx, nil); n != 1 || err != nil {
		t.Fatalf("update once it is written: %d %v, want 1", n, err)
	}
}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "audit", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(Commands()...)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "node-a", 60, base)
	out, err := runCmd(t, "query", "--data-dir", dir, "--principal", "arn:zt:iam::111122223333:user/user1", "--limit", "3")
	if err != nil || strings.Count(out, "\n") != 4 || !strings.HasPrefix(out, "TIME") || !strings.Contains(out, "user/user1") {
		t.Fatalf("query table: %v\n%s", err, out)
	}
	out, err = runCmd(t, "query", "--data-dir", dir, "--decision", "allowed", "--format", "json", "--limit", "1000")
	if err != nil || strings.Count(out, "\n") != 20 {
		t.Fatalf("query json: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("not JSON: %s", line)
		}
	}
	if _, err := runCmd(t, "query", "--data-dir", dir, "--decision", "maybe"); err == nil {
		t.Fatal("a bad --decision was accepted")
	}
	for _, bad := range [][]string{
		{"--limit", "0"}, {"--limit", "-1"}, {"--from", "-5m"}, {"--source-ip", "notanip"},
		{"--from", "2026-11-02", "--to", "2026-11-01"}, {"--from", "1h", "--to", "2h"},
	} {
		if _, err := runCmd(t, append([]string{"query", "--data-dir", dir}, bad...)...); err == nil {
			t.Errorf("query %v accepted", bad)
		}
	}
	// A date as --to includes its day.
	if out, err := runCmd(t, "query", "--data-dir", dir, "--to", base.Format(time.DateOnly), "--format", "json", "--limit", "1000"); err != nil || strings.Count(out, "\n") == 0 {
		t.Errorf("--to the log's first day: %v, %d records", err, strings.Count(out, "\n"))
	}
	if _, err := runCmd(t, "query", "--data-dir", dir, "--from", "yesterday-ish"); err == nil {
		t.Fatal("a bad --from was accepted")
	}
	jl := filepath.Join(t.TempDir(), "out.jsonl")
	if _, err := runCmd(t, "export", "--data-dir", dir, "--out", jl); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(jl)
	if strings.Count(string(b), "\n") != 60 {
		t.Fatalf("jsonl export: %d lines", strings.Count(string(b), "\n"))
	}
	ct := t.TempDir()
	if _, err := runCmd(t, "export", "--data-dir", dir, "--format", "cloudtrail", "--out", ct); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(ct, "node-a", "2026", "11", "01", "ztgate_CloudTrail_node-a_*.json.gz"))
	if len(files) != 1 { // 60 records, one a minute: one hour
		t.Fatalf("cloudtrail files: %v", files)
	}
	f, _ := os.Open(files[0])
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(gz)
	var doc struct {
		Records []audit.Record `json:"Records"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.Records) != 60 {
		t.Fatalf("cloudtrail file: %d records, %v", len(doc.Records), err)
	}
	out, err = runCmd(t, "reindex", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "indexed 60 records") {
		t.Fatalf("reindex: %v %s", err, out)
	}
}

func TestEachPaging(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "n", 25, base)
	x, _ := Open(filepath.Join(dir, "audit"))
	defer x.Close()
	x.Update(context.Background(), nil)
	var seqs []uint64
	err := Each(context.Background(), x, Filter{}, func(r Row) error {
		seqs = append(seqs, r.Seq)
		return nil
	})
	if err != nil || len(seqs) != 25 || seqs[0] != 1 {
		t.Fatalf("Each: %v %v", seqs, err)
	}
}

// Records that retention removed from the log leave the query store too.
func TestUpdatePrunes(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	auditDir := filepath.Join(dataDir, "audit")
	// Four closed segments an hour apart, ten records each.
	for s := range 4 {
		writeLog(t, dataDir, "n1", 10, base.Add(time.Duration(s)*time.Hour))
	}
	x, err := Open(auditDir)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := x.Count(ctx); n != 40 {
		t.Fatalf("%d records indexed, want 40", n)
	}
	// Reopening with a retention of 90 minutes removes the older segments.
	now := base.Add(4 * time.Hour)
	w, err := audit.Open(audit.Options{Dir: auditDir, Node: "n1", KEK: kekFor(dataDir), Clock: func() time.Time { return now }, RetainAge: 90 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	through, err := audit.PrunedThrough(filepath.Join(auditDir, "n1"))
	if err != nil || through == 0 {
		t.Fatalf("retention removed nothing (%d, %v)", through, err)
	}
	if _, err := x.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := x.Query(ctx, Filter{Limit: 1000, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || int64(len(rows)) != 40-int64(through) || rows[0].Seq != through+1 {
		t.Fatalf("after pruning through %d: %d rows, first %d", through, len(rows), rows[0].Seq)
	}
	// A second update changes nothing.
	if _, err := x.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := x.Count(ctx); n != int64(len(rows)) {
		t.Fatalf("second update: %d records", n)
	}
}
