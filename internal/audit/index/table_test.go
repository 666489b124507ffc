package index

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openDB opens a fresh PostgreSQL store, migrated, and returns its database.
func openDB(t *testing.T) (dsn string, db *sql.DB) {
	t.Helper()
	dsn = pgtest.DSN(t)
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: sqlstore.Postgres, DSN: dsn, Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return dsn, st.DB()
}

// indexed writes a node's log into its own data directory and indexes it.
func indexed(t *testing.T, node string, n int) (string, *Index) {
	t.Helper()
	dir := t.TempDir()
	writeLog(t, dir, node, n, base)
	x, err := Open(filepath.Join(dir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if _, err := x.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return dir, x
}

func ship(t *testing.T, tb *Table, x *Index, want int64) {
	t.Helper()
	if n, err := tb.Ship(context.Background(), x); err != nil || n != want {
		t.Fatalf("Ship: %d %v, want %d", n, err, want)
	}
}

// TestShip: two nodes, each with its own data directory, ship to one
// database; a query there sees both, with the local index's answers.
func TestShip(t *testing.T) {
	ctx := context.Background()
	_, db := openDB(t)
	tb := NewTable(db)
	_, a := indexed(t, "node-a", 300)
	_, b := indexed(t, "node-b", 120)
	ship(t, tb, a, 300)
	ship(t, tb, a, 0) // nothing twice
	ship(t, tb, b, 120)

	all, err := tb.Query(ctx, Filter{Limit: 1000})
	if err != nil || len(all) != 420 {
		t.Fatalf("all: %d %v", len(all), err)
	}
	// Both nodes wrote at the same instants: newest first, node breaks ties.
	if all[0].Node != "node-a" || all[0].Seq != 300 || all[len(all)-1].Node != "node-a" || all[len(all)-1].Seq != 1 {
		t.Fatalf("order: first %s/%d, last %s/%d", all[0].Node, all[0].Seq, all[len(all)-1].Node, all[len(all)-1].Seq)
	}
	if rows, _ := tb.Query(ctx, Filter{Node: "node-b", Limit: 1000}); len(rows) != 120 {
		t.Fatalf("node-b: %d rows", len(rows))
	}
	if rows, _ := tb.Query(ctx, Filter{Principal: "arn:zt:iam::111122223333:user/user3", Limit: 1000}); len(rows) != 60+24 {
		t.Fatalf("user3 on both nodes: %d rows", len(rows))
	}

	// Per node, the same filters give the local index's answers, records
	// byte for byte.
	filters := []Filter{
		{Limit: 50},
		{Decision: "explicitDeny", Limit: 1000},
		{SourceIP: "10.0.0.3", Device: "dev-1", Limit: 1000, Ascending: true},
		{ErrorCode: "AccessDenied", Limit: 7},
		{From: base.Add(10 * time.Minute), To: base.Add(20 * time.Minute), Limit: 1000},
		{Action: "http:GET", Resource: "arn:zt:gateway::111122223333:route/app/x", Limit: 1000},
		{Principal: "nobody"},
	}
	for _, f := range filters {
		f.Node = "node-a"
		local, err1 := a.Query(ctx, f)
		shared, err2 := tb.Query(ctx, f)
		if err1 != nil || err2 != nil || len(local) != len(shared) {
			t.Fatalf("%+v: local %d %v, table %d %v", f, len(local), err1, len(shared), err2)
		}
		for i := range local {
			l, s := local[i], shared[i]
			if l.Node != s.Node || l.Seq != s.Seq || !l.Time.Equal(s.Time) || l.Principal != s.Principal || l.Action != s.Action ||
				l.Resource != s.Resource || l.Decision != s.Decision || l.SourceIP != s.SourceIP || l.Device != s.Device ||
				l.ErrorCode != s.ErrorCode || l.EventID != s.EventID || !bytes.Equal(l.Record, s.Record) {
				t.Fatalf("%+v row %d:\nlocal %+v\ntable %+v", f, i, l, s)
			}
		}
	}

	// Export pages through the table as through the index.
	var n int
	if err := Each(ctx, tb, Filter{}, func(Row) error { n++; return nil }); err != nil || n != 420 {
		t.Fatalf("Each: %d %v", n, err)
	}
}

// TestShipResumes: shipping picks up where the table stops, whatever was
// lost, and a rebuilt index ships nothing twice.
func TestShipResumes(t *testing.T) {
	ctx := context.Background()
	_, db := openDB(t)
	tb := NewTable(db)
	dir, x := indexed(t, "node-a", 50)
	ship(t, tb, x, 50)
	// A batch that never committed.
	if _, err := db.ExecContext(ctx, `DELETE FROM ztgate_audit WHERE seq > 30`); err != nil {
		t.Fatal(err)
	}
	ship(t, tb, x, 20)
	// Records written since.
	writeLog(t, dir, "node-a", 5, base.Add(time.Hour))
	x.Update(ctx, nil)
	ship(t, tb, x, 5)
	// The index deleted and rebuilt.
	x.Close()
	os.Remove(filepath.Join(dir, "audit", FileName))
	x2, err := Open(filepath.Join(dir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer x2.Close()
	x2.Update(ctx, nil)
	ship(t, tb, x2, 0)
	var count int
	db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ztgate_audit`).Scan(&count)
	if count != 55 {
		t.Fatalf("%d records in the table, want 55", count)
	}
}

// TestShipUnstorable: a NUL taken from a request into a queried field
// cannot stop shipping.
func TestShipUnstorable(t *testing.T) {
	ctx := context.Background()
	_, db := openDB(t)
	tb := NewTable(db)
	dir := t.TempDir()
	w, err := audit.Open(audit.Options{Dir: filepath.Join(dir, "audit"), Node: "n", KEK: kekFor(dir)})
	if err != nil {
		t.Fatal(err)
	}
	r := audit.DecisionEvent{Source: audit.SourceGateway, Name: "GET", Action: "http:GET",
		Resources: []audit.Resource{{ARN: "arn:zt:gateway::1:route/a\x00b"}}, Decision: "allowed"}.Record()
	if err := w.Append(ctx, r); err != nil {
		t.Fatal(err)
	}
	w.Close()
	x, _ := Open(filepath.Join(dir, "audit"))
	defer x.Close()
	x.Update(ctx, nil)
	ship(t, tb, x, 1)
	rows, err := tb.Query(ctx, Filter{})
	if err != nil || len(rows) != 1 || !strings.HasSuffix(rows[0].Resource, "a\uFFFDb") {
		t.Fatalf("rows %+v %v", rows, err)
	}
}

// TestCommandsPostgres: with a PostgreSQL configuration, query and export
// ship the local log and search every node's records.
func TestCommandsPostgres(t *testing.T) {
	dsn, db := openDB(t)
	_, b := indexed(t, "node-b", 40)
	ship(t, NewTable(db), b, 40)
	dirA := t.TempDir()
	writeLog(t, dirA, "node-a", 60, base)
	cfg := "store:\n  driver: postgres\n  postgres:\n    dsn: " + dsn + "\n"
	if err := os.WriteFile(filepath.Join(dirA, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "query", "--data-dir", dirA, "--format", "json", "--limit", "1000")
	if err != nil || strings.Count(out, "\n") != 100 {
		t.Fatalf("query: %v, %d lines", err, strings.Count(out, "\n"))
	}
	out, err = runCmd(t, "query", "--data-dir", dirA, "--node", "node-b", "--decision", "allowed", "--format", "json", "--limit", "1000")
	if err != nil || strings.Count(out, "\n") != 14 || !strings.Contains(out, `"node":"node-b"`) {
		t.Fatalf("query node-b: %v\n%s", err, out)
	}
	// --config from elsewhere, with a data directory holding no log.
	other := filepath.Join(t.TempDir(), "ztgate.yaml")
	os.WriteFile(other, []byte(cfg), 0o600)
	jl := filepath.Join(t.TempDir(), "out.jsonl")
	if _, err := runCmd(t, "export", "--data-dir", t.TempDir(), "--config", other, "--out", jl); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(jl)
	if strings.Count(string(data), "\n") != 100 {
		t.Fatalf("export: %d lines", strings.Count(string(data), "\n"))
	}
	// Without a configuration: the local index, this node's records only.
	os.Remove(filepath.Join(dirA, "config.yaml"))
	out, err = runCmd(t, "query", "--data-dir", dirA, "--format", "json", "--limit", "1000")
	if err != nil || strings.Count(out, "\n") != 60 {
		t.Fatalf("local query: %v, %d lines", err, strings.Count(out, "\n"))
	}
}

// What retention removes from a node's log leaves the shared table at the
// node's next Ship.
func TestShipPrunes(t *testing.T) {
	ctx := context.Background()
	_, db := openDB(t)
	tb := NewTable(db)
	dataDir := t.TempDir()
	auditDir := filepath.Join(dataDir, "audit")
	for s := range 3 {
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
	ship(t, tb, x, 30)
	now := base.Add(3 * time.Hour)
	w, err := audit.Open(audit.Options{Dir: auditDir, Node: "n1", KEK: kekFor(dataDir), Clock: func() time.Time { return now }, RetainAge: 90 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Update(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ship(t, tb, x, 0)
	through, _ := audit.PrunedThrough(filepath.Join(auditDir, "n1"))
	rows, err := tb.Query(ctx, Filter{Node: "n1", Limit: 1000, Ascending: true})
	if err != nil || through == 0 || int64(len(rows)) != 30-int64(through) || rows[0].Seq != through+1 {
		t.Fatalf("after pruning through %d: %d rows (%v)", through, len(rows), err)
	}
}
