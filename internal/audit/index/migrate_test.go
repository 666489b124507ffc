package index

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// schemaV0 is the schema before user_version was set: a WITHOUT ROWID
// table holding a copy of every record.
const schemaV0 = `
CREATE TABLE IF NOT EXISTS records (
	node TEXT NOT NULL,
	seq INTEGER NOT NULL,
	time_us INTEGER NOT NULL,
	principal TEXT NOT NULL,
	action TEXT NOT NULL,
	resource TEXT NOT NULL,
	decision TEXT NOT NULL,
	source_ip TEXT NOT NULL,
	device TEXT NOT NULL,
	error_code TEXT NOT NULL,
	event_id TEXT NOT NULL,
	record BLOB NOT NULL,
	PRIMARY KEY (node, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_time ON records (time_us);
CREATE INDEX IF NOT EXISTS records_principal ON records (principal, time_us);
CREATE TABLE IF NOT EXISTS pruned (
	node TEXT NOT NULL PRIMARY KEY,
	through INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS progress (
	node TEXT NOT NULL,
	segment TEXT NOT NULL,
	offset INTEGER NOT NULL,
	PRIMARY KEY (node, segment)
);`

// oldIndex writes an index of another schema version into auditDir.
// Version 0's says that every segment was indexed, as the old index of a
// log does, and holds a thousand copies of records; any other version's
// holds a table of its own.
func oldIndex(t *testing.T, auditDir string, version int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(auditDir, FileName)+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{`CREATE TABLE future (x)`, `PRAGMA user_version = ` + strconv.Itoa(version)}
	if version == 0 {
		stmts = []string{schemaV0}
		segs, _ := filepath.Glob(filepath.Join(auditDir, "*", "segments", "*.jsonl"))
		for _, s := range segs {
			fi, err := os.Stat(s)
			if err != nil {
				t.Fatal(err)
			}
			stmts = append(stmts, `INSERT INTO progress VALUES ('n1', '`+filepath.Base(s)+`', `+strconv.FormatInt(fi.Size(), 10)+`)`)
		}
		stmts = append(stmts, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
			INSERT INTO records SELECT 'n1', i, i, 'p', 'a', 'r', 'allowed', 'ip', '', '', 'e', zeroblob(2000) FROM n`)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestMigrate: an index of another schema is dropped and filled again
// from the segments, whatever it says was indexed.
func TestMigrate(t *testing.T) {
	for _, version := range []int{0, 9} {
		t.Run("version "+strconv.Itoa(version), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			auditDir := filepath.Join(dir, "audit")
			writeLog(t, dir, "n1", 50, base)
			oldIndex(t, auditDir, version)
			before, _ := os.Stat(filepath.Join(auditDir, FileName))

			x, err := Open(auditDir)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			var v int
			if err := x.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
				t.Fatalf("user_version %d (%v), want %d", v, err, schemaVersion)
			}
			var tables int
			x.db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE name = 'future'`).Scan(&tables)
			if c, _ := x.Count(ctx); c != 0 || tables != 0 {
				t.Fatalf("after migrating: %d records, %d old tables", c, tables)
			}
			if after, _ := os.Stat(filepath.Join(auditDir, FileName)); version == 0 && after.Size() >= before.Size()/4 {
				t.Errorf("the file went from %d to %d bytes", before.Size(), after.Size())
			}
			if n, err := x.Update(ctx, nil); n != 50 || err != nil {
				t.Fatalf("Update: %d %v", n, err)
			}
			rows, err := x.Query(ctx, Filter{Principal: "arn:zt:iam::111122223333:user/user2", Limit: 100})
			if err != nil || len(rows) != 10 || !bytes.Contains(rows[0].Record, []byte(`user/user2"`)) {
				t.Fatalf("query: %d rows, %v", len(rows), err)
			}
			x.Close()
			// Opened again, it is kept.
			x2, err := Open(auditDir)
			if err != nil {
				t.Fatal(err)
			}
			defer x2.Close()
			if c, _ := x2.Count(ctx); c != 50 {
				t.Fatalf("reopened: %d records", c)
			}
		})
	}
}

// TestMigrateRace: processes opening an old index at once migrate it once,
// and none loses what another indexed since.
func TestMigrateRace(t *testing.T) {
	dir := t.TempDir()
	auditDir := filepath.Join(dir, "audit")
	writeLog(t, dir, "n1", 20, base)
	oldIndex(t, auditDir, 0)
	var wg sync.WaitGroup
	xs := make([]*Index, 3)
	errs := make([]error, len(xs))
	for i := range xs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if xs[i], errs[i] = Open(auditDir); errs[i] == nil {
				_, errs[i] = xs[i].Update(context.Background(), nil)
			}
		}()
	}
	wg.Wait()
	for i, x := range xs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		defer x.Close()
	}
	if c, _ := xs[0].Count(context.Background()); c != 20 {
		t.Fatalf("%d records, want 20", c)
	}
}
