package audit

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSyncCost measures what one synced write costs the machine, as
// the audit writer makes it (a batch of records written over zeros
// already on disk, then fdatasync), against the same write left in the
// page cache: goroutines spinning on every CPU count how much work they
// get done while a writer writes at a fixed rate, and the work lost,
// per write, is reported as CPU time. Spinning alone and spinning beside
// the writer alternate every costSlice, so both see the same machine.
// On a virtual machine this includes what the host takes from the
// guest's CPUs to carry the write and the cache flush to its disk, which
// no profile inside the guest shows. Run it with a count of rounds, e.g.
// -benchtime 6x.
func BenchmarkSyncCost(b *testing.B) {
	for _, synced := range []bool{false, true} {
		name := "page-cache"
		if synced {
			name = "fdatasync"
		}
		b.Run(name, func(b *testing.B) { benchmarkSyncCost(b, synced) })
	}
}

const (
	costSlice = 500 * time.Millisecond
	costRate  = 1000      // writes a second
	costWrite = 14 << 10  // bytes a write: 14 records of about 1 KiB
	costFile  = 128 << 20 // zeros written and synced ahead
	costSpin  = 1000      // iterations of the spin loop a unit
)

// spinSink keeps the spinners' arithmetic from being optimized away.
var spinSink atomic.Int64

func benchmarkSyncCost(b *testing.B, synced bool) {
	cpus := runtime.NumCPU()
	// One P more than spinners, for the writer and the timer.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cpus + 1))
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "segment"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for off := int64(0); off < costFile; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := syncData(f); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, costWrite)
	for i := range buf {
		buf[i] = 'a'
	}
	var off int64
	write := func() {
		if off+costWrite > costFile {
			off = 0
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if synced {
			if err := syncData(f); err != nil {
				b.Fatal(err)
			}
		}
		off += costWrite
	}
	var alone, beside float64 // spin units a second
	var writes int
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			alone += spinFor(cpus, nil)
			beside += spinFor(cpus, func() { write(); writes++ })
		} else {
			beside += spinFor(cpus, func() { write(); writes++ })
			alone += spinFor(cpus, nil)
		}
	}
	lost := 1 - beside/alone
	elapsed := costSlice.Seconds() * float64(b.N)
	b.ReportMetric(lost*float64(cpus)*elapsed*1e6/float64(writes), "cpu-µs/write")
	b.ReportMetric(float64(writes)/elapsed, "writes/s")
}

// spinFor spins on n goroutines for costSlice, calling write costRate
// times a second meanwhile if it is not nil, and returns the spin units
// done a second.
func spinFor(n int, write func()) float64 {
	var stop atomic.Bool
	var units atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			x, k := 1, int64(0)
			for !stop.Load() {
				for i := range costSpin {
					x = x*31 + i
				}
				k++
			}
			units.Add(k)
			spinSink.Add(int64(x))
		})
	}
	start := time.Now()
	if write == nil {
		time.Sleep(costSlice)
	} else {
		next := start
		for time.Since(start) < costSlice {
			write()
			next = next.Add(time.Second / costRate)
			time.Sleep(time.Until(next))
		}
	}
	stop.Store(true)
	wg.Wait()
	return float64(units.Load()) / time.Since(start).Seconds()
}
