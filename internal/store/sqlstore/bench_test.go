package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/store"
)

// benchBackends runs fn on both backends. The raw variants measure the
// same statement through database/sql directly: the floor ztgate's store
// stands on, to compare as a ratio.
func benchBackends(b *testing.B, fn func(b *testing.B, s *Store)) {
	b.Run("sqlite", func(b *testing.B) {
		s, err := Open(context.Background(), Options{Driver: SQLite, Path: filepath.Join(b.TempDir(), "ztgate.db")})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fn(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		s, err := Open(context.Background(), Options{Driver: Postgres, DSN: pgtest.DSN(b)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fn(b, s)
	})
}

var value = []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)

// BenchmarkPut: one record written in its own transaction (revision,
// record, change-log entry, and on PostgreSQL the NOTIFY).
func BenchmarkPut(b *testing.B) {
	benchBackends(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := store.Put(ctx, s, "policy", "p"+strconv.Itoa(i%1000), value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutRaw: the peer of BenchmarkPut, a bare upsert in a
// transaction through database/sql on the same database.
func BenchmarkPutRaw(b *testing.B) {
	benchBackends(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		s.db.ExecContext(ctx, `CREATE TABLE raw (k TEXT PRIMARY KEY, v `+map[bool]string{true: "BYTEA", false: "BLOB"}[s.d.postgres]+`)`)
		q := s.d.rebind(`INSERT INTO raw (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tx, err := s.db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, q, "p"+strconv.Itoa(i%1000), value); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	benchBackends(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		for i := 0; i < 1000; i++ {
			store.Put(ctx, s, "policy", "p"+strconv.Itoa(i), value)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, "policy", "p"+strconv.Itoa(i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetRaw: the peer of BenchmarkGet.
func BenchmarkGetRaw(b *testing.B) {
	benchBackends(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		for i := 0; i < 1000; i++ {
			store.Put(ctx, s, "policy", "p"+strconv.Itoa(i), value)
		}
		q := s.d.rebind(`SELECT value FROM ztgate_records WHERE kind = ? AND key = ?`)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var v []byte
			if err := s.db.QueryRowContext(ctx, q, "policy", "p"+strconv.Itoa(i%1000)).Scan(&v); err != nil && err != sql.ErrNoRows {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFeedLatency: two nodes on one PostgreSQL server; node A writes,
// node B's subscription receives. Reports the median and 99th percentile of
// the time from A's commit returning to B receiving, over b.N changes (run
// with -benchtime 1000x or more).
func BenchmarkFeedLatency(b *testing.B) {
	dsn := pgtest.DSN(b)
	ctx := context.Background()
	a, err := Open(ctx, Options{Driver: Postgres, DSN: dsn, Node: "a"})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	nb, err := Open(ctx, Options{Driver: Postgres, DSN: dsn, Node: "b"})
	if err != nil {
		b.Fatal(err)
	}
	defer nb.Close()
	waitListening(b, a, nb)
	rev, _ := nb.Revision(ctx)
	sub := nb.Watch(rev)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key := "k" + strconv.Itoa(i)
		if _, err := store.Put(ctx, a, "revocation", key, nil); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		c, err := sub.Next(ctx)
		if err != nil || c.Key != key {
			b.Fatalf("got %+v %v, want %s", c, err, key)
		}
		lat = append(lat, time.Since(committed))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkNotifyLatency: the peer of BenchmarkFeedLatency, a bare
// pg_notify from one connection to a LISTENing other, on the same server.
func BenchmarkNotifyLatency(b *testing.B) {
	dsn := pgtest.DSN(b)
	ctx := context.Background()
	sender, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close(ctx)
	listener, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN bench"); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sender.Exec(ctx, "SELECT pg_notify('bench', $1)", strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		sent := time.Now()
		if _, err := listener.WaitForNotification(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(sent))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func waitListening(b *testing.B, nodes ...*Store) {
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for !n.Live() {
			if time.Now().After(deadline) {
				b.Fatal("listener not connected")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	at := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(lat)), "changes")
}
