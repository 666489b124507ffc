package sqlstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openSQLite(t *testing.T, path string, migrateTo int) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Driver: SQLite, Path: path, Node: "test", Poll: 50 * time.Millisecond, migrateTo: migrateTo})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openPostgres(t *testing.T, dsn string, migrateTo int) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Driver: Postgres, DSN: dsn, Node: "test", Poll: 50 * time.Millisecond, migrateTo: migrateTo})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "ztgate.db"), 0)
	})
}

func TestConformancePostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPostgres(t, pgtest.DSN(t), 0)
	})
}

// backends runs fn on a fresh SQLite file and a fresh PostgreSQL database,
// opened at schema version v (0 = latest) by the returned function.
func backends(t *testing.T, fn func(t *testing.T, open func(v int) *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ztgate.db")
		fn(t, func(v int) *Store { return openSQLite(t, path, v) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		fn(t, func(v int) *Store { return openPostgres(t, dsn, v) })
	})
}

func TestMigrations(t *testing.T) {
	backends(t, func(t *testing.T, open func(int) *Store) {
		ctx := context.Background()
		// From empty to the previous version, with data written there the
		// way that version's code wrote it.
		prev := open(SchemaVersion() - 1)
		if v := version(t, prev); v != SchemaVersion()-1 {
			t.Fatalf("schema at %d, want %d", v, SchemaVersion()-1)
		}
		_, err := prev.db.ExecContext(ctx, prev.d.rebind(`INSERT INTO ztgate_records (kind, key, value, revision, created_us, updated_us) VALUES (?, ?, ?, ?, ?, ?)`),
			"policy", "old", []byte("kept"), 1, time.Now().UnixMicro(), time.Now().UnixMicro())
		if err != nil {
			t.Fatal(err)
		}
		prev.db.ExecContext(ctx, `UPDATE ztgate_meta SET revision = 1`)
		// Audit rows as version 3 filed them (on PostgreSQL, where the
		// table is used): bare event names where a record has no action
		// of ztgate's.
		audit := map[string][2]string{ // seq: record, action then
			"1": {`{"eventSource":"sts.ztgate","eventName":"AssumeRole"}`, "AssumeRole"},
			"2": {`{"eventSource":"gateway.ztgate","eventName":"GET","ztgate":{"action":"http:GET"}}`, "http:GET"},
			"3": {`{"eventSource":"gateway.ztgate","eventName":"GET"}`, "GET"},
			"4": {`{"eventName":"Odd"}`, "Odd"},
			"5": {`{"eventVersion":"1.08","eventSource":"sts.ztgate","eventName":"AssumeRole","requestParameters":{"roleSessionName":"a\u0000b"}}`, "AssumeRole"},
		}
		if prev.d.postgres {
			for seq, r := range audit {
				if _, err := prev.db.ExecContext(ctx, `INSERT INTO ztgate_audit VALUES ('n', $1, 0, '', $2, '', '', '', '', '', '', $3)`, seq, r[1], r[0]); err != nil {
					t.Fatal(err)
				}
			}
		}
		prev.Close()

		// To the latest: old data kept, new features work.
		s := open(0)
		defer s.Close()
		if v := version(t, s); v != SchemaVersion() {
			t.Fatalf("schema at %d, want %d", v, SchemaVersion())
		}
		if r, err := s.Get(ctx, "policy", "old"); err != nil || string(r.Value) != "kept" {
			t.Fatalf("record from the previous version: %+v %v", r, err)
		}
		if s.d.postgres {
			want := map[string]string{"1": "sts:AssumeRole", "2": "http:GET", "3": "http:GET", "4": "Odd", "5": "sts:AssumeRole"}
			for seq, action := range want {
				var got string
				if err := s.db.QueryRowContext(ctx, `SELECT action FROM ztgate_audit WHERE node = 'n' AND seq = $1`, seq).Scan(&got); err != nil || got != action {
					t.Errorf("audit row %s after the upgrade: action %q (%v), want %q", seq, got, err, action)
				}
			}
		}
		rev, err := store.Put(ctx, s, "policy", "new", []byte("v"))
		if err != nil || rev != 2 {
			t.Fatalf("write after upgrade: rev %d %v", rev, err)
		}
		ch, err := s.Changes(ctx, 1, 10)
		if err != nil || len(ch) != 1 || ch[0].Key != "new" {
			t.Fatalf("change log after upgrade: %v %v", ch, err)
		}
		// Opening again is a no-op.
		s2 := open(0)
		s2.Close()
		if v := version(t, s); v != SchemaVersion() {
			t.Fatalf("schema at %d after reopening", v)
		}
	})
}

func TestSchemaTooNew(t *testing.T) {
	for name, o := range map[string]Options{
		"sqlite":   {Driver: SQLite, Path: filepath.Join(t.TempDir(), "ztgate.db")},
		"postgres": {Driver: Postgres},
	} {
		t.Run(name, func(t *testing.T) {
			if o.Driver == Postgres {
				o.DSN = pgtest.DSN(t)
			}
			s, err := Open(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			s.db.Exec(s.d.rebind(`INSERT INTO ztgate_schema (version, name, applied_us) VALUES (?, ?, ?)`), SchemaVersion()+1, "future", 0)
			s.Close()
			if _, err = Open(context.Background(), o); !errors.Is(err, store.ErrSchemaTooNew) {
				t.Fatalf("Open: %v, want ErrSchemaTooNew", err)
			}
		})
	}
}

// TestMigrationAtomic checks that a failing step leaves the schema at the
// step before, with nothing of the failed one applied.
func TestMigrationAtomic(t *testing.T) {
	backends(t, func(t *testing.T, open func(int) *Store) {
		s := open(1)
		defer s.Close()
		// Make step 2 fail half-way: its first statement succeeds, its
		// second (ALTER TABLE ztgate_meta) fails because the column exists.
		if _, err := s.db.Exec(`ALTER TABLE ztgate_meta ADD COLUMN pruned BIGINT NOT NULL DEFAULT 0`); err != nil {
			t.Fatal(err)
		}
		err := migrate(context.Background(), s.db, s.d, 0)
		if err == nil || !strings.Contains(err.Error(), "migrate to 2") {
			t.Fatalf("migrate: %v, want a failure of step 2", err)
		}
		if v := version(t, s); v != 1 {
			t.Fatalf("schema at %d after a failed step, want 1", v)
		}
		var n int
		err = s.db.QueryRow(s.d.rebind(`SELECT COUNT(*) FROM ztgate_changes`)).Scan(&n)
		if err == nil {
			t.Fatal("ztgate_changes exists: the failed step was applied half-way")
		}
	})
}

func version(t *testing.T, s *Store) int {
	t.Helper()
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := schemaVersion(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPostgresUnreachable(t *testing.T) {
	start := time.Now()
	_, err := Open(context.Background(), Options{Driver: Postgres, DSN: "postgres://ztgate:s3cretpw@127.0.0.1:1/ztgate?sslmode=disable", ConnectTimeout: 2 * time.Second})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cretpw") {
		t.Fatalf("error leaks the password: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error does not name the server: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestPostgresBadDSN(t *testing.T) {
	for _, dsn := range []string{"postgres://u:s3cretpw@host:notaport/db", "host=x password=s3cretpw sslmode=bogus"} {
		_, err := Open(context.Background(), Options{Driver: Postgres, DSN: dsn})
		if err == nil || strings.Contains(err.Error(), "s3cretpw") {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
	}
}

// TestSQLiteFileMode: the database holds sealed secrets; only its owner
// may read it.
func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ztgate.db")
	s := openSQLite(t, path, 0)
	defer s.Close()
	store.Put(context.Background(), s, "k", "k", []byte("v"))
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v: readable by others", p, fi.Mode())
		}
	}
}
