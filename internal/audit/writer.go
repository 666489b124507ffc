package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/secret"
)

// DirName is the audit directory's name inside the data directory.
const DirName = "audit"

// Mode says when Append returns.
type Mode int

const (
	// Sync, the default, returns once the record is on disk: a decision
	// whose record was appended is never missing after a crash.
	Sync Mode = iota
	// Async returns once the record is queued. A crash loses the records
	// still queued or not yet synced, at most QueueSize plus one batch.
	Async
)

func (m Mode) String() string {
	if m == Async {
		return "async"
	}
	return "sync"
}

// Defaults of Options.
const (
	DefaultSegmentSize = 64 << 20
	DefaultSegmentAge  = 15 * time.Minute
	DefaultQueueSize   = 1 << 16
	DefaultRegion      = "ztgate"

	// MaxRecordSize bounds one record's JSON encoding.
	MaxRecordSize = 1 << 20
)

// Errors of the writer.
var (
	ErrClosed   = errors.New("audit log is closed")
	ErrTooLarge = errors.New("audit record is too large")
)

// Options configure a [Writer].
type Options struct {
	// Dir is the audit directory, DATA_DIR/audit ([DirName]).
	Dir string
	// Node names this node; its records go to Dir/<Node>.
	Node string
	// KEK seals the audit signing key.
	KEK *secret.KEK
	// Mode is Sync (the default) or Async.
	Mode Mode
	// SegmentSize and SegmentAge close a segment, and sign its digest,
	// when it reaches this size or age.
	SegmentSize int64
	SegmentAge  time.Duration
	// QueueSize bounds the records waiting to be written; Append blocks
	// while it is full, and never drops a record.
	QueueSize int
	// Region fills awsRegion when a record has none.
	Region string
	// RetainAge and RetainSize bound the node's closed segments: after a
	// segment closes, and at Open, the oldest are removed while their
	// newest record is older than RetainAge or the closed segments take
	// more than RetainSize bytes, a signed retention marker written
	// first. The open segment and the newest closed one are always kept.
	// Zero is no bound.
	RetainAge  time.Duration
	RetainSize int64
	// Clock gives eventTime, segment ages and closedAt; time.Now when nil.
	Clock func() time.Time
	// Log receives warnings (a recovered torn tail) and errors.
	Log *slog.Logger
}

// Writer appends records to one node's audit log. It is safe for
// concurrent use: the records waiting from every goroutine are taken as
// one batch by a single writing goroutine and written with one write,
// then synced with one fdatasync, after which every appender of the batch
// wakes (group commit). Writing the next batch overlaps syncing this one.
type Writer struct {
	o       Options
	nodeDir string
	segDir  string
	digDir  string
	key     *signingKey
	log     *slog.Logger
	unlock  func()

	mu       sync.Mutex
	cur      *batch // records waiting for the writing goroutine
	last     *batch // the batch taken last
	closed   bool
	err      error // sticky: the log can no longer be written
	kick     chan struct{}
	closing  chan struct{}
	done     chan struct{}
	closeErr error

	syncq    chan syncItem
	syncDone chan struct{}
	bufs     sync.Pool    // *[]byte for encoded records, reused once written
	lineBufs chan *[]byte // buffers for lines, reused once synced

	// Owned by the writing goroutine.
	seg        *segment
	seq        uint64            // the next record's sequence number
	prev       [sha256.Size]byte // the last record's hash
	lastDigest string
	lastSig    string
	h          *chainHasher
	spare      []entry
	pruneDue   bool // a segment closed since the last prune
}

type batch struct {
	entries []entry
	taken   chan struct{} // closed when the writing goroutine takes the batch
	done    chan struct{} // closed when the batch is on disk, or failed
	err     error
}

type entry struct {
	rec []byte
	buf *[]byte // rec's buffer, from Writer.bufs
	t   time.Time
}

// maxPooledBuf bounds the record buffers kept for reuse.
const maxPooledBuf = 64 << 10

func newRecordBuf() any {
	b := make([]byte, 0, 2048)
	return &b
}

// release returns entries' buffers for reuse.
func (w *Writer) release(entries []entry) {
	for i := range entries {
		if bp := entries[i].buf; bp != nil && cap(*bp) <= maxPooledBuf {
			w.bufs.Put(bp)
		}
	}
	clear(entries)
}

// segment is the segment being written.
type segment struct {
	f         *os.File
	seq       uint64 // its first record's
	name      string
	firstPrev [sha256.Size]byte
	lastHash  [sha256.Size]byte
	size      int64 // bytes written
	zeroed    int64 // the file is zeros from size to here (see prefill)
	records   uint64
	earliest  time.Time
	latest    time.Time
	opened    time.Time
	// Owned by syncLoop until a barrier hands them back.
	sha      hash.Hash // of the bytes written; nil when sum is known
	sum      []byte    // the SHA-256 of a segment closed by recovery
	unsynced bool
}

// Open opens the node's audit log for appending, after recovering it
// from a crash: an incomplete last line is moved to a .torn file, and a
// segment left open is closed and its digest signed. It creates the
// directories and the signing key on first use.
func Open(o Options) (*Writer, error) {
	if o.Dir == "" {
		return nil, errors.New("audit: no directory")
	}
	if err := checkNode(o.Node); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if o.KEK == nil {
		return nil, errors.New("audit: no key-encryption key")
	}
	if o.RetainAge < 0 || o.RetainSize < 0 {
		return nil, errors.New("audit: negative retention")
	}
	if o.Mode != Sync && o.Mode != Async {
		return nil, fmt.Errorf("audit: unknown mode %d", o.Mode)
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentAge <= 0 {
		o.SegmentAge = DefaultSegmentAge
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		o:       o,
		nodeDir: filepath.Join(o.Dir, o.Node),
		log:     o.Log.With("node", o.Node),
		h:       newChainHasher(),
		seq:     1,
		kick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		syncq:   make(chan syncItem, syncQueue),
		bufs:    sync.Pool{New: newRecordBuf},
	}
	w.syncDone = make(chan struct{})
	w.lineBufs = make(chan *[]byte, 2*syncQueue+2)
	w.segDir, w.digDir = filepath.Join(w.nodeDir, segmentsDir), filepath.Join(w.nodeDir, digestsDir)
	if err := mkdirs(o.Dir, w.nodeDir, w.segDir, w.digDir); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	unlock, err := lockNode(filepath.Join(w.nodeDir, lockName))
	if err != nil {
		return nil, err
	}
	w.unlock = unlock
	if w.key, err = loadOrCreateKey(o.Dir, o.KEK); err != nil {
		unlock()
		return nil, err
	}
	if err := w.recover(); err != nil {
		if w.seg != nil {
			w.seg.f.Close()
		}
		unlock()
		return nil, err
	}
	w.retain()
	w.cur = w.newBatch()
	go w.syncLoop()
	go w.run()
	return w, nil
}

// errLocked classifies a node whose log another process holds.
var errLocked = errors.New("being written by another process")

// lockNode keeps two processes from writing one node's log.
func lockNode(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("audit: %s is %w", filepath.Dir(path), errLocked)
		}
		return nil, fmt.Errorf("audit: lock: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Record is Append: a Writer is a [Recorder].
func (w *Writer) Record(ctx context.Context, r *Record) error { return w.Append(ctx, r) }

// Append writes a record. It fills in r's eventVersion, eventID (a random
// UUID) and eventTime when they are empty, awsRegion when empty, and the
// node, and writes a copy whose requestParameters and responseElements
// are redacted ([Redact]); r is not retained.
//
// In Sync mode Append returns once the record is on disk, or the error
// that kept it from getting there; in Async mode, once it is queued.
// While QueueSize records are waiting, Append blocks until there is room,
// or ctx ends. An error means the record may not be in the log: the
// caller must refuse the access it describes. After an error writing or
// syncing the log, every Append fails: the log cannot be trusted to hold
// what follows.
func (w *Writer) Append(ctx context.Context, r *Record) error {
	wait, err := w.Submit(ctx, r)
	if err != nil {
		return err
	}
	return wait(ctx)
}

// Submit queues a record as Append does, and returns at once (or when
// there is room in the queue) with a function that waits until the
// record is on disk and returns Append's error. In Async mode the
// function returns nil at once. Whoever acts on the record before its
// wait returns must not let the effect of that action out before it does:
// the gateway forwards a safe request (GET) meanwhile, but holds the
// answer until the record is durable.
func (w *Writer) Submit(ctx context.Context, r *Record) (func(context.Context) error, error) {
	c, err := prepare(r, w.o.Clock(), w.o.Node, w.o.Region)
	if err != nil {
		return nil, err
	}
	bp := w.bufs.Get().(*[]byte)
	data, err := appendRecord((*bp)[:0], &c)
	if err != nil {
		w.bufs.Put(bp)
		return nil, fmt.Errorf("audit: encode record: %w", err)
	}
	if len(data) > MaxRecordSize {
		w.bufs.Put(bp)
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(data), MaxRecordSize)
	}
	*bp = data
	// Once queued, the buffer is the writer's, until the record is written.
	e := entry{rec: data, buf: bp, t: r.EventTime}
	for {
		w.mu.Lock()
		switch {
		case w.closed:
			w.mu.Unlock()
			w.bufs.Put(bp)
			return nil, ErrClosed
		case w.err != nil:
			err := w.err
			w.mu.Unlock()
			w.bufs.Put(bp)
			return nil, err
		}
		b := w.cur
		if len(b.entries) < w.o.QueueSize {
			b.entries = append(b.entries, e)
			w.mu.Unlock()
			select {
			case w.kick <- struct{}{}:
			default:
			}
			if w.o.Mode == Async {
				return durable, nil
			}
			return b.wait, nil
		}
		w.mu.Unlock()
		select {
		case <-b.taken:
		case <-ctx.Done():
			w.bufs.Put(bp)
			return nil, ctx.Err()
		}
	}
}

// durable is the wait of a record that needs none.
func durable(context.Context) error { return nil }

// wait waits until the batch is on disk, or failed.
func (b *batch) wait(ctx context.Context) error {
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush waits until every record appended before it is on disk. In Sync
// mode it is never needed.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	b := w.cur
	if len(b.entries) == 0 {
		b = w.last
	}
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if b == nil {
		return nil
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued, closes the segment and signs its digest.
// Appends after Close fail with ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	w.mu.Unlock()
	close(w.closing)
	<-w.done
	return w.closeErr
}

func (w *Writer) newBatch() *batch {
	b := &batch{entries: w.spare, taken: make(chan struct{}), done: make(chan struct{})}
	w.spare = nil
	return b
}

// The writer is a pipeline of two goroutines. run takes each batch of
// waiting records, chains and writes them, and passes the written bytes
// to syncLoop, which hashes them into the segment's SHA-256, syncs the
// file and completes the batches. While one batch is being synced the
// next is being written, so the CPU work of a batch and the wait for the
// disk overlap, and so do the two goroutines' SHA-256 work.

// syncItem is work for syncLoop: bytes written to a segment, and the
// batch they complete, if they are its last. An item with ack set is a
// barrier: ack is closed once everything before it is synced.
type syncItem struct {
	seg   *segment
	buf   *[]byte
	batch *batch
	ack   chan struct{}
}

// syncQueue is how many items run may be ahead of syncLoop.
const syncQueue = 8

// run is the writing goroutine.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(min(max(w.o.SegmentAge/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	for {
		select {
		case <-w.kick:
			w.commitPending()
		case <-tick.C:
			if w.sticky() == nil && w.seg != nil && w.seg.records > 0 && w.o.Clock().Sub(w.seg.opened) >= w.o.SegmentAge {
				if err := w.closeSegment(CloseAge); err != nil {
					w.fail(err)
				}
			}
		case <-w.closing:
			w.commitPending()
			w.shutdown()
			return
		}
		if w.pruneDue {
			w.retain()
		}
	}
}

// commitPending takes the waiting records and writes them.
func (w *Writer) commitPending() {
	w.mu.Lock()
	b := w.cur
	if len(b.entries) == 0 {
		w.mu.Unlock()
		return
	}
	w.cur = w.newBatch()
	w.last = b
	w.mu.Unlock()
	close(b.taken)

	if err := w.commit(b); err != nil {
		// Never handed to syncLoop: complete it here.
		b.err = err
		close(b.done)
	}
	w.release(b.entries)
	w.spare = b.entries[:0]
}

// commit chains a batch's records and writes them, one write for them
// all unless a segment fills on the way or the batch is very large, and
// hands the batch to syncLoop. An error means the batch was not handed
// over.
func (w *Writer) commit(b *batch) error {
	if err := w.sticky(); err != nil {
		return err
	}
	buf := w.lineBuf()
	for i := range b.entries {
		e := &b.entries[i]
		need := int64(lineOverhead + 20 + len(e.rec))
		if w.seg != nil && w.seg.records > 0 && w.seg.size+int64(len(*buf))+need > w.o.SegmentSize {
			if err := w.write(buf, nil); err != nil {
				return w.fail(err)
			}
			buf = w.lineBuf()
			if err := w.closeSegment(CloseSize); err != nil {
				return w.fail(err)
			}
		}
		if w.seg == nil {
			if err := w.newSegment(); err != nil {
				return w.fail(err)
			}
		}
		if len(*buf) >= maxWrite {
			if err := w.write(buf, nil); err != nil {
				return w.fail(err)
			}
			buf = w.lineBuf()
		}
		sum := w.h.sum(&w.prev, w.seq, e.rec)
		*buf = appendLine(*buf, w.seq, &w.prev, &sum, e.rec)
		s := w.seg
		if s.records == 0 {
			s.firstPrev = w.prev
			s.earliest, s.latest = e.t, e.t
		}
		s.earliest = minTime(s.earliest, e.t)
		s.latest = maxTime(s.latest, e.t)
		s.records++
		s.lastHash = sum
		w.prev = sum
		w.seq++
	}
	if err := w.write(buf, b); err != nil {
		return w.fail(err)
	}
	return nil
}

// maxWrite is the most one write passes to the kernel: a very large batch
// (an Async queue drained at once) is written in pieces of about this
// size.
const maxWrite = 1 << 20

// maxTornTail bounds what a crash can leave unsynced after the last
// synced record: the writes queued for syncLoop, the one it is syncing
// and the one run is making, each at most maxWrite and one record more.
// More than that after a segment's last whole line is not a torn tail
// but records overwritten.
const maxTornTail = (syncQueue + 2) * (maxWrite + 2*MaxRecordSize)

// maxKeptLineBuf bounds the line buffers kept for reuse: a batch of a
// thousand records fits; the rare larger one is not kept.
const maxKeptLineBuf = 4 << 20

// lineBuf returns a buffer for lines: one syncLoop is done with, or a new
// one.
func (w *Writer) lineBuf() *[]byte {
	select {
	case bp := <-w.lineBufs:
		*bp = (*bp)[:0]
		return bp
	default:
		b := make([]byte, 0, 256<<10)
		return &b
	}
}

// write appends buf to the segment and hands it to syncLoop, with the
// batch it completes, if any. A failed write is cut back off, so that the
// file never keeps part of a batch no appender was told of.
func (w *Writer) write(buf *[]byte, b *batch) error {
	s := w.seg
	if len(*buf) > 0 {
		if err := w.prefill(s, s.size+int64(len(*buf))); err != nil {
			// Nothing of the batch is written: zeros still follow the
			// records, as after a crash.
			return fmt.Errorf("audit: write %s: %w", s.name, err)
		}
		if _, err := s.f.WriteAt(*buf, s.size); err != nil {
			unwrite(s, int64(len(*buf)))
			return fmt.Errorf("audit: write %s: %w", s.name, err)
		}
		s.size += int64(len(*buf))
		s.zeroed = max(s.zeroed, s.size)
	}
	w.syncq <- syncItem{seg: s, buf: buf, batch: b}
	return nil
}

// Segments are written over zeros. Appending to a file changes its size,
// and syncing a size change commits the file system's journal: on ext4
// that doubles fdatasync's time and CPU. So the writer keeps a stretch of
// zeros, written and synced ahead of the records, that records then
// overwrite in place, syncing data alone; the stretch is extended a
// prefillChunk at a time, and cut off when the segment closes. Readers
// take a zero byte where a line should start as the end of the records
// (a record line never holds one); recovery cuts the zeros off, and keeps
// anything else after the last whole line as a torn tail.
const (
	prefillChunk = 1 << 20
	prefillLow   = prefillChunk / 4 // extend when fewer zeros remain
	// minZeros are always there after the records of a segment being
	// written, even one filled to its size: a segment left without a
	// digest whose records end the file was not left by a crash.
	minZeros = 4096
)

var zeros = make([]byte, 64<<10)

// prefill extends s's zeros when few are left past next, where the
// records about to be written end. It runs before they are written, so
// that a failure (a full disk) leaves no record the writer reported as
// failed; the zeros reach the disk with the records' sync.
func (w *Writer) prefill(s *segment, next int64) error {
	end := max(min(next+prefillChunk, w.o.SegmentSize), next+minZeros)
	if s.zeroed-next >= prefillLow || s.zeroed >= end {
		return nil
	}
	off := max(s.zeroed, next)
	for off < end {
		n := min(int64(len(zeros)), end-off)
		if _, err := s.f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	s.zeroed = end
	return nil
}

// unwrite puts zeros back over n bytes after s's records, where a failed
// write may have left part of a batch no appender was told of; if even
// that fails, it cuts the file at the records.
func unwrite(s *segment, n int64) {
	for off := s.size; off < s.size+n; {
		k := min(int64(len(zeros)), s.size+n-off)
		if _, err := s.f.WriteAt(zeros[:k], off); err != nil {
			s.f.Truncate(s.size)
			s.zeroed = s.size
			return
		}
		off += k
	}
}

// trim cuts the zeros after s's records off and syncs the file, so that
// a closed segment is its records alone.
func trim(s *segment) error {
	if s.zeroed <= s.size {
		return nil
	}
	if err := s.f.Truncate(s.size); err != nil {
		return fmt.Errorf("audit: close %s: %w", s.name, err)
	}
	s.zeroed = s.size
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("audit: close %s: %w", s.name, err)
	}
	return nil
}

// barrier waits until everything handed to syncLoop is synced.
func (w *Writer) barrier() error {
	ack := make(chan struct{})
	w.syncq <- syncItem{ack: ack}
	<-ack
	return w.sticky()
}

// syncLoop syncs what run wrote: every item waiting is taken at once and
// served by one fdatasync per segment, then their batches are completed.
func (w *Writer) syncLoop() {
	defer close(w.syncDone)
	var items []syncItem
	for it := range w.syncq {
		items = append(items[:0], it)
	more:
		for {
			select {
			case it, ok := <-w.syncq:
				if !ok {
					break more
				}
				items = append(items, it)
			default:
				break more
			}
		}
		for _, it := range items {
			if it.buf == nil {
				continue
			}
			if len(*it.buf) > 0 {
				it.seg.sha.Write(*it.buf)
				it.seg.unsynced = true
			}
			if cap(*it.buf) <= maxKeptLineBuf {
				select {
				case w.lineBufs <- it.buf:
				default:
				}
			}
		}
		err := w.sticky()
		for _, it := range items {
			if s := it.seg; s != nil && s.unsynced && err == nil {
				if e := syncData(s.f); e != nil {
					err = w.fail(fmt.Errorf("audit: sync %s: %w", s.name, e))
				}
				s.unsynced = false
			}
		}
		for i, it := range items {
			if it.batch != nil {
				it.batch.err = err
				close(it.batch.done)
			}
			if it.ack != nil {
				close(it.ack)
			}
			items[i] = syncItem{}
		}
	}
}

// sticky returns the error that stopped the writer, if any.
func (w *Writer) sticky() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// fail makes err sticky: after a failed write or sync the state of the
// file is unknown, so nothing more is appended to it.
func (w *Writer) fail(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.log.Error("audit log failed; every audited request will be refused", "err", err)
		w.err = err
	}
	return w.err
}

// newSegment starts a segment at the next sequence number.
func (w *Writer) newSegment() error {
	name := segmentName(w.seq)
	f, err := os.OpenFile(filepath.Join(w.segDir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit: new segment: %w", err)
	}
	if err := datadir.SyncDir(w.segDir); err != nil {
		f.Close()
		return fmt.Errorf("audit: new segment: %w", err)
	}
	w.seg = &segment{f: f, seq: w.seq, name: name, sha: sha256.New(), opened: w.o.Clock()}
	return nil
}

// closeSegment waits until the segment is synced, signs its digest and
// closes it.
func (w *Writer) closeSegment(reason string) error {
	s := w.seg
	if err := w.barrier(); err != nil {
		return err
	}
	// The digest first: a crash before the zeros are cut leaves a signed
	// segment followed by zeros, which the next start cuts, rather than a
	// segment without its zeros and without a digest, which only
	// tampering leaves.
	if err := w.writeDigest(s, reason); err != nil {
		return err
	}
	if err := trim(s); err != nil {
		return err
	}
	w.seg = nil
	w.pruneDue = true
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("audit: close %s: %w", s.name, err)
	}
	return nil
}

// retain removes the oldest closed segments beyond Options.RetainAge and
// RetainSize. A failure is logged and leaves the log as it was, or with
// leftovers the retention marker covers: keeping records longer is no
// reason to refuse requests.
func (w *Writer) retain() {
	w.pruneDue = false
	r := retention{maxAge: w.o.RetainAge, maxSize: w.o.RetainSize}
	if !r.enabled() {
		return
	}
	p := &pruner{dir: w.o.Dir, node: w.o.Node, key: w.key, now: w.o.Clock(), log: w.log}
	res, err := p.prune(r)
	if err != nil {
		w.log.Error("audit: retention failed; old segments are kept", "err", err)
		return
	}
	if res.segments > 0 || res.leftovers > 0 {
		w.log.Info("audit: removed old segments by retention", "segments", res.segments, "prunedThroughSeq", res.through, "leftovers", res.leftovers)
	}
}

// writeDigest signs and writes the digest of a segment.
func (w *Writer) writeDigest(s *segment, reason string) error {
	if s.sha != nil {
		s.sum = s.sha.Sum(nil)
	}
	d := &Digest{
		DigestVersion:     DigestVersion,
		Node:              w.o.Node,
		Segment:           s.name,
		SegmentSHA256:     hex.EncodeToString(s.sum),
		Size:              s.size,
		FirstSeq:          s.seq,
		LastSeq:           s.seq + s.records - 1,
		Records:           s.records,
		FirstPrev:         hex.EncodeToString(s.firstPrev[:]),
		LastHash:          hex.EncodeToString(s.lastHash[:]),
		EarliestEventTime: digestTime(s.earliest),
		LatestEventTime:   digestTime(s.latest),
		ClosedAt:          digestTime(w.o.Clock()),
		CloseReason:       reason,
		PreviousDigest:    w.lastDigest,
		PreviousSignature: w.lastSig,
	}
	torn, err := w.tornTails(s.seq)
	if err != nil {
		return err
	}
	d.TornTails = torn
	if err := d.sign(w.key); err != nil {
		return err
	}
	b, err := d.encode()
	if err != nil {
		return err
	}
	name := digestName(s.seq)
	if err := writeFileAtomic(filepath.Join(w.digDir, name), b); err != nil {
		return fmt.Errorf("audit: write digest: %w", err)
	}
	w.lastDigest, w.lastSig = name, d.Signature
	return nil
}

// tornTails lists the torn-tail evidence files of a segment.
func (w *Writer) tornTails(seq uint64) ([]TornTail, error) {
	ents, err := os.ReadDir(w.segDir)
	if err != nil {
		return nil, err
	}
	var out []TornTail
	for _, e := range ents {
		s, off, ok := parseTornName(e.Name())
		if !ok || s != seq {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, TornTail{Offset: off, Length: fi.Size(), File: e.Name()})
	}
	return out, nil
}

// shutdown closes the segment at Close, and stops syncLoop.
func (w *Writer) shutdown() {
	defer w.unlock()
	if s := w.seg; s != nil {
		if w.sticky() == nil && s.records > 0 {
			if err := w.closeSegment(CloseShutdown); err != nil {
				w.closeErr = err
			}
		} else {
			if w.barrier() == nil {
				if err := trim(s); err != nil {
					// Harmless: the next start cuts the zeros off.
					w.log.Warn("audit: cutting the zeros off an empty segment failed", "segment", s.name, "err", err)
				}
			}
			s.f.Close()
			w.seg = nil
		}
	}
	close(w.syncq)
	<-w.syncDone
	if w.pruneDue && w.sticky() == nil {
		w.retain()
	}
	if err := w.sticky(); err != nil && w.closeErr == nil {
		w.closeErr = err
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
