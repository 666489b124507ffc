package index

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// benchRecords is the size of the query benchmark's index: 1,000,000 by
// default, ZTGATE_BENCH_AUDIT_RECORDS to change it (10,000,000 for the
// figure in BENCHMARKS.md; building that index takes minutes).
func benchRecords() int {
	if n, err := strconv.Atoi(os.Getenv("ZTGATE_BENCH_AUDIT_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkQueryPrincipal: a principal's last 100 records among millions
// (10,000 principals, records a second apart).
func BenchmarkQueryPrincipal(b *testing.B) {
	n := benchRecords()
	x, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	rec := []byte(`{"eventVersion":"1.09","eventSource":"gateway.ztgate","eventName":"GET"}`)
	start := time.Now()
	rows := make([]Row, 0, batchSize)
	for i := 0; i < n; i++ {
		rows = append(rows, Row{Node: "n1", Seq: uint64(i + 1), Time: base.Add(time.Duration(i) * time.Second),
			Principal: fmt.Sprintf("arn:zt:iam::111122223333:user/u%d", i%10000), Action: "http:GET",
			Resource: "arn:zt:gateway::111122223333:route/app/x", Decision: "allowed", SourceIP: "10.0.0.1",
			EventID: strconv.Itoa(i), Record: rec})
		if len(rows) == batchSize {
			if err := x.Add(ctx, rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if err := x.Add(ctx, rows); err != nil {
		b.Fatal(err)
	}
	b.Logf("indexed %d records in %v (%.0f records/s)", n, time.Since(start), float64(n)/time.Since(start).Seconds())
	f := Filter{Principal: "arn:zt:iam::111122223333:user/u4242", Limit: 100}
	b.ResetTimer()
	for b.Loop() {
		got, err := x.Query(ctx, f)
		if err != nil || len(got) != min(100, n/10000) {
			b.Fatalf("%d rows, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(n), "records")
}
