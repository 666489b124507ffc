package audit

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// appenders are how many goroutines append at once in the append
// benchmarks, per GOMAXPROCS: a busy gateway has hundreds of requests in
// flight, each waiting for its record, and in Sync mode every record of
// a batch shares one fsync, so throughput grows with them.
var appenders = []int{32, 512}

func benchmarkAppend(b *testing.B, mode Mode) {
	for _, n := range appenders {
		b.Run(fmt.Sprintf("appenders=%d", n*runtime.GOMAXPROCS(0)), func(b *testing.B) { benchmarkAppendN(b, mode, n) })
	}
}

func benchmarkAppendN(b *testing.B, mode Mode, appenders int) {
	dir := b.TempDir()
	w := openTest(b, Options{Dir: dir, KEK: testKEK(b), Mode: mode})
	recs := make([]*Record, 64)
	for i := range recs {
		recs[i] = decisionRecord(i)
	}
	b.ReportAllocs()
	b.SetParallelism(appenders)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := *recs[i%len(recs)]
			r.EventID = ""
			if err := w.Append(context.Background(), &r); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	if mode == Async {
		if err := w.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendSync measures durable appends: each Append returns once
// its record is fsynced, many records to an fsync.
func BenchmarkAppendSync(b *testing.B) { benchmarkAppend(b, Sync) }

// BenchmarkAppendAsync measures queued appends, flushed at the end.
func BenchmarkAppendAsync(b *testing.B) { benchmarkAppend(b, Async) }

// BenchmarkVerify measures verification of a log of verifyRecords
// records in 64 MiB segments; the log is written once.
func BenchmarkVerify(b *testing.B) {
	const verifyRecords = 200_000
	dir := b.TempDir()
	w := openTest(b, Options{Dir: dir, KEK: testKEK(b), Mode: Async})
	for i := range verifyRecords {
		if err := w.Append(context.Background(), decisionRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	var bytes int64
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		rep, err := Verify(context.Background(), VerifyOptions{Dir: dir})
		if err != nil || !rep.OK(true) {
			b.Fatal(err, rep.Findings)
		}
		bytes = rep.Bytes
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(b.N*verifyRecords)/time.Since(start).Seconds(), "records/s")
}
