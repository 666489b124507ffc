package sts

import (
	"testing"

	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// BenchmarkAssumeRole measures whole AssumeRole requests through the
// handler (signature check, key and role reads, trust decision, token
// sealing, audit record in memory) on each store, beside
// GetCallerIdentity, which does the same authentication without issuing:
// the difference is what assuming a role costs.
func BenchmarkAssumeRole(b *testing.B) {
	stores := map[string]func(b *testing.B) sqlstore.Options{
		"sqlite": func(b *testing.B) sqlstore.Options {
			return sqlstore.Options{Driver: sqlstore.SQLite, Path: b.TempDir() + "/ztgate.db", Node: "bench"}
		},
		"postgres": func(b *testing.B) sqlstore.Options {
			return sqlstore.Options{Driver: sqlstore.Postgres, DSN: pgtest.DSN(b), Node: "bench"}
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			w := newWorldOn(b, stores[name](b))
			body := assumeBody(role("deployer"), "bench")
			b.Run("AssumeRole", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if rec := call(w.h, body, w.alice.key, w.alice.secret, ""); rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
					w.mem.Reset()
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
			b.Run("GetCallerIdentity", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if rec := call(w.h, callerBody, w.alice.key, w.alice.secret, ""); rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
					w.mem.Reset()
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		})
	}
}
