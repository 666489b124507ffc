package index

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
)

// segmentRecords returns the records of a node's segments by sequence
// number, as the writer wrote them.
func segmentRecords(t *testing.T, auditDir, node string) map[uint64][]byte {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(auditDir, node, "segments", "*.jsonl"))
	recs := map[uint64][]byte{}
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.SplitAfter(b, []byte("\n")) {
			if e, ok := parseLine(bytes.TrimSuffix(l, []byte("\n"))); ok && bytes.HasSuffix(l, []byte("\n")) {
				recs[e.seq] = e.record
			}
		}
	}
	return recs
}

// checkRecords holds every row's record to the one its segment holds.
func checkRecords(t *testing.T, rows []Row, recs map[uint64][]byte) {
	t.Helper()
	for _, r := range rows {
		if want, ok := recs[r.Seq]; !ok || !bytes.Equal(r.Record, want) {
			t.Fatalf("seq %d: record %q, want %q", r.Seq, r.Record, want)
		}
	}
}

// TestUpdateSkips: lines that are not records, however long, are
// skipped, and the records after them are read back from where they are.
func TestUpdateSkips(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	auditDir := filepath.Join(dir, "audit")
	writeLog(t, dir, "n1", 30, base)
	segs, _ := filepath.Glob(filepath.Join(auditDir, "n1", "segments", "*.jsonl"))
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	junk := [][]byte{
		[]byte("not json\n"),
		[]byte("\n"),
		[]byte(`{"seq":1000,"record":{"eventName":7}}` + "\n"),
		append(bytes.Repeat([]byte("x"), maxLine+1), '\n'),
		append(append([]byte(`{"seq":1001,"record":{"eventName":"`), bytes.Repeat([]byte("y"), 70<<10)...), `"}}`+"\n"...),
	}
	var out []byte
	for i, l := range lines {
		out = append(out, l...)
		if i < len(junk) {
			out = append(out, junk[i]...)
		}
	}
	if err := os.WriteFile(segs[0], out, 0o600); err != nil {
		t.Fatal(err)
	}
	x, err := Open(auditDir)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	// 30 records, and the 70 KiB line longer than the reader's buffer.
	if n, err := x.Update(ctx, nil); n != 31 || err != nil {
		t.Fatalf("Update: %d %v", n, err)
	}
	rows, err := x.Query(ctx, Filter{Limit: 1000})
	if err != nil || len(rows) != 31 {
		t.Fatalf("query: %d rows, %v", len(rows), err)
	}
	recs := segmentRecords(t, auditDir, "n1")
	checkRecords(t, rows, recs)
	// Without an eventTime, the oldest.
	if r := rows[len(rows)-1]; r.Seq != 1001 || len(r.Record) < 70<<10 || r.Action != strings.Repeat("y", 70<<10) {
		t.Fatalf("the long record: seq %d, %d bytes", r.Seq, len(r.Record))
	}
}

// TestQueryRetentionRace: a query after retention removed segments, and
// before the next Update, answers without them, a full page.
func TestQueryRetentionRace(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	auditDir := filepath.Join(dataDir, "audit")
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
	w, err := audit.Open(audit.Options{Dir: auditDir, Node: "n1", KEK: kekFor(dataDir),
		Clock: func() time.Time { return base.Add(4 * time.Hour) }, RetainAge: 90 * time.Minute})
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
	rows, err := x.Query(ctx, Filter{Limit: 5, Ascending: true})
	if err != nil || len(rows) != 5 || rows[0].Seq != through+1 {
		t.Fatalf("oldest 5 after pruning through %d: %d rows (%v)", through, len(rows), err)
	}
	checkRecords(t, rows, segmentRecords(t, auditDir, "n1"))
	if n, _ := x.Count(ctx); n != 40-int64(through) {
		t.Fatalf("%d records left, want %d", n, 40-through)
	}
	var pruned int64
	if err := x.db.QueryRow(`SELECT through FROM pruned WHERE node = 'n1'`).Scan(&pruned); err != nil || pruned != int64(through) {
		t.Fatalf("pruned through %d (%v), want %d", pruned, err, through)
	}
}

// TestQueryChangedLog: a segment altered or removed by hand since it was
// indexed has the index forget the node, and index it again as it is.
func TestQueryChangedLog(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, seg string)
		left   int // records of the node left in its log
	}{
		{"line altered", func(t *testing.T, seg string) {
			b, _ := os.ReadFile(seg)
			i := bytes.Index(b, []byte(`{"seq":3,`))
			b[i+len(`{"seq":3,`)] = 'X' // the line no longer parses
			os.WriteFile(seg, b, 0o600)
		}, 19},
		{"lines moved", func(t *testing.T, seg string) {
			b, _ := os.ReadFile(seg)
			os.WriteFile(seg, b[bytes.IndexByte(b, '\n')+1:], 0o600)
		}, 19},
		{"segment cut short", func(t *testing.T, seg string) {
			b, _ := os.ReadFile(seg)
			os.WriteFile(seg, b[:len(b)-1], 0o600) // the last line waits for its newline
		}, 19},
		{"segment removed", func(t *testing.T, seg string) { os.Remove(seg) }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			auditDir := filepath.Join(dir, "audit")
			writeLog(t, dir, "n1", 20, base)
			writeLog(t, dir, "n2", 10, base)
			x, err := Open(auditDir)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			if _, err := x.Update(ctx, nil); err != nil {
				t.Fatal(err)
			}
			segs, _ := filepath.Glob(filepath.Join(auditDir, "n1", "segments", "*.jsonl"))
			c.change(t, segs[0])
			// The query that finds the node's rows stale answers from its
			// log as it is now: the other node's records and what is left
			// of this one's, none left out.
			rows, err := x.Query(ctx, Filter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			byNode := map[string]int{}
			for _, r := range rows {
				byNode[r.Node]++
			}
			if byNode["n2"] != 10 || byNode["n1"] != c.left {
				t.Fatalf("first query after the change: %v rows by node, want n1 %d, n2 10", byNode, c.left)
			}
			rows, err = x.Query(ctx, Filter{Node: "n1", Limit: 1000})
			if err != nil || len(rows) != c.left {
				t.Fatalf("n1 afterwards: %d rows (%v), want %d", len(rows), err, c.left)
			}
			checkRecords(t, rows, segmentRecords(t, auditDir, "n1"))
		})
	}
}

// TestAddBesideSegments: rows added with their records and rows indexed
// from segments answer one query alike.
func TestAddBesideSegments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeLog(t, dir, "n1", 10, base)
	x, err := Open(filepath.Join(dir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rec := []byte(`{"eventName":"GET"}`)
	if err := x.Add(ctx, []Row{{Node: "n0", Seq: 1, Time: base.Add(time.Hour), Principal: "arn:zt:iam::111122223333:user/user1",
		Action: "http:GET", Decision: "allowed", EventID: "e", Record: rec}}); err != nil {
		t.Fatal(err)
	}
	rows, err := x.Query(ctx, Filter{Principal: "arn:zt:iam::111122223333:user/user1", Limit: 100})
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	added := rows[0]
	if added.Node != "n0" || !bytes.Equal(added.Record, rec) || added.Action != "http:GET" || added.Decision != "allowed" ||
		added.Resource != "" || added.EventID != "e" || !added.Time.Equal(base.Add(time.Hour)) {
		t.Fatalf("added row: %+v", added)
	}
	checkRecords(t, rows[1:], segmentRecords(t, filepath.Join(dir, "audit"), "n1"))
}

// TestConcurrentUpdates: processes indexing one log at once index each
// record once, and none twice.
func TestConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	auditDir := filepath.Join(dataDir, "audit")
	w, err := audit.Open(audit.Options{Dir: auditDir, Node: "n1", KEK: kekFor(dataDir), Mode: audit.Async, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	for i := range n {
		if err := w.Append(ctx, gatewayRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	counts := make([]int64, 2)
	errs := make([]error, 2)
	for i := range counts {
		x, err := Open(auditDir)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = x.Update(ctx, nil)
		}()
	}
	wg.Wait()
	x, _ := Open(auditDir)
	defer x.Close()
	if c, _ := x.Count(ctx); errs[0] != nil || errs[1] != nil || c != n || counts[0]+counts[1] != n {
		t.Fatalf("indexed %v (%v), %d records, want %d", counts, errs, c, n)
	}
}

// TestTermsCachedOnCommit: the ids of terms added in a transaction that
// rolls back are not remembered (another transaction may take them); those
// of a transaction that commits are.
func TestTermsCachedOnCommit(t *testing.T) {
	ctx := context.Background()
	x, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	tx, err := x.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	w, err := newRowWriter(ctx, x, tx)
	if err != nil {
		t.Fatal(err)
	}
	e := entry{seq: 1, time: base, record: []byte(`{}`)}
	e.fields[fPrincipal] = []byte("arn:rolled-back")
	if err := w.insert(ctx, "n", &e, location{}); err != nil {
		t.Fatal(err)
	}
	w.close()
	tx.Rollback()
	if _, ok := x.terms.id([]byte("arn:rolled-back")); ok {
		t.Fatal("a term of a rolled-back transaction is cached")
	}
	if err := x.Add(ctx, []Row{{Node: "n", Seq: 1, Time: base, Principal: "arn:other", Record: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := x.terms.id([]byte("arn:other")); !ok {
		t.Fatal("a term of a committed transaction is not cached")
	}
	rows, err := x.Query(ctx, Filter{Principal: "arn:other"})
	if err != nil || len(rows) != 1 || rows[0].Principal != "arn:other" {
		t.Fatalf("%+v %v", rows, err)
	}
}

// TestQueryPlans: every filter is answered from an index, in the order
// asked, without sorting what it selects; a node's records are found by
// the primary key.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	x, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ids := map[string]int64{"v": 1}
	cases := []struct {
		f    Filter
		plan string
	}{
		{Filter{}, "SCAN records USING INDEX records_time"},
		{Filter{From: base, To: base.Add(time.Hour)}, "SEARCH records USING INDEX records_time (time_us>? AND time_us<?)"},
		{Filter{Principal: "v"}, "SEARCH records USING INDEX records_principal (principal=?)"},
		{Filter{Action: "v"}, "SEARCH records USING INDEX records_action (action=?)"},
		{Filter{Resource: "v"}, "SEARCH records USING INDEX records_resource (resource=?)"},
		{Filter{Decision: "v", Ascending: true}, "SEARCH records USING INDEX records_decision (decision=?)"},
		{Filter{SourceIP: "v"}, "SEARCH records USING INDEX records_source_ip (source_ip=?)"},
		{Filter{Device: "v"}, "SEARCH records USING INDEX records_device (device=?)"},
		{Filter{ErrorCode: "v", From: base}, "SEARCH records USING INDEX records_error_code (error_code=? AND time_us>?)"},
		{Filter{Node: "n1"}, "SEARCH records USING PRIMARY KEY (node=?)\nUSE TEMP B-TREE FOR ORDER BY"},
	}
	for _, c := range cases {
		clause, args := filterSQL(c.f, false, ids)
		rows, err := x.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+selectRows+clause, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if got := strings.Join(plan, "\n"); got != c.plan {
			t.Errorf("%+v:\n%s\nwant\n%s", c.f, got, c.plan)
		}
	}
}

// TestEachAcrossSegments: an export reads every record back, in order,
// across segments.
func TestEachAcrossSegments(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	auditDir := filepath.Join(dataDir, "audit")
	w, err := audit.Open(audit.Options{Dir: auditDir, Node: "n1", KEK: kekFor(dataDir), Mode: audit.Async, SegmentSize: 32 << 10,
		Clock: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		r := gatewayRecord(i)
		r.EventTime = base.Add(time.Duration(i/7) * time.Second) // seven at each instant
		if err := w.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	x, err := Open(auditDir)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	recs := segmentRecords(t, auditDir, "n1")
	var seqs []uint64
	var rows []Row
	err = Each(ctx, x, Filter{}, func(r Row) error {
		seqs = append(seqs, r.Seq)
		rows = append(rows, r)
		return nil
	})
	if err != nil || len(seqs) != 300 || !slices.IsSorted(seqs) {
		t.Fatalf("%d records, sorted %v (%v)", len(seqs), slices.IsSorted(seqs), err)
	}
	checkRecords(t, rows, recs)
	if segs, _ := filepath.Glob(filepath.Join(auditDir, "n1", "segments", "*.jsonl")); len(segs) < 5 {
		t.Fatalf("%d segments; the test wants several", len(segs))
	}
}
