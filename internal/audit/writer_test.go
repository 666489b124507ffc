package audit

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAppendVerify(t *testing.T) {
	dir := t.TempDir()
	kek := testKEK(t)
	clock := newFakeClock()
	w := openTest(t, Options{Dir: dir, KEK: kek, Clock: clock.Now})
	r := decisionRecord(1)
	if err := w.Append(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(r.EventID) != 36 || r.EventID[14] != '4' || r.EventVersion != EventVersion || r.EventTime.IsZero() || r.ZTGate.Node != "node-1" {
		t.Errorf("Append did not fill the record: %+v", r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(context.Background(), decisionRecord(2)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}

	// A second run continues the chain in a new segment.
	writeLog(t, Options{Dir: dir, KEK: kek, Clock: clock.Now}, 3)
	segs, digs := nodeFiles(t, dir, "node-1")
	if want := []string{segmentName(1), segmentName(2)}; strings.Join(segs, ",") != strings.Join(want, ",") {
		t.Errorf("segments %v, want %v", segs, want)
	}
	if len(digs) != 2 {
		t.Errorf("digests %v, want 2", digs)
	}
	mustClean(t, verifyDir(t, dir))

	// The line holds the record exactly, and the record reads back.
	lines := readLines(t, filepath.Join(dir, "node-1", segmentsDir, segmentName(1)))
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1", len(lines))
	}
	pl, err := parseLine(lines[0][:len(lines[0])-1])
	if err != nil {
		t.Fatal(err)
	}
	var got Record
	if err := json.Unmarshal(pl.record, &got); err != nil {
		t.Fatal(err)
	}
	if got.EventID != r.EventID || got.ZTGate.Category != CategoryDecision || got.ZTGate.Matched[0].Sid != "ReadItems" ||
		got.AWSRegion != "eu-west-1" || got.UserIdentity.SessionContext.SessionIssuer.UserName != "deployer" {
		t.Errorf("record read back differs: %+v", got)
	}
	d := readDigest(t, dir, "node-1", digestName(2))
	if d.PreviousDigest != digestName(1) || d.FirstSeq != 2 || d.LastSeq != 4 || d.CloseReason != CloseShutdown {
		t.Errorf("second digest: %+v", d)
	}

	// Files and directories are the owner's only.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if perm := fi.Mode().Perm(); p != dir && perm&0o077 != 0 {
			t.Errorf("%s has mode %04o", p, perm)
		}
		return nil
	})
}

func readDigest(t testing.TB, dir, node, name string) *Digest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, node, digestsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDigest(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAppendInvalid(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir(), KEK: testKEK(t)})
	defer w.Close()
	for name, r := range map[string]*Record{
		"nil":            nil,
		"no category":    {EventSource: SourceGateway, EventName: "GET", EventType: EventTypeAPICall, UserIdentity: UserIdentity{Type: "IAMUser"}},
		"bad decision":   DecisionEvent{Source: SourceGateway, Name: "GET", Decision: "maybe"}.Record(),
		"no event name":  DecisionEvent{Source: SourceGateway, Decision: Allowed}.Record(),
		"auth no code":   AuthFailureEvent{Source: SourceGateway, Name: "GET"}.Record(),
		"unknown catgry": {EventSource: "x", EventName: "y", EventType: "z", UserIdentity: UserIdentity{Type: "IAMUser"}, ZTGate: &ZTGate{Category: "other"}},
	} {
		if err := w.Append(context.Background(), r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: %v, want ErrInvalidRecord", name, err)
		}
	}
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{Dir: dir, Node: "keys", KEK: testKEK(t)},
		{Dir: dir, Node: "../x", KEK: testKEK(t)},
		{Dir: dir, Node: "n"},
		{Node: "n", KEK: testKEK(t)},
	} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
	kek := testKEK(t)
	w := openTest(t, Options{Dir: dir, KEK: kek})
	defer w.Close()
	if _, err := Open(Options{Dir: dir, Node: "node-1", KEK: kek}); err == nil {
		t.Error("a second writer of the same node opened")
	}
	if _, err := Open(Options{Dir: dir, Node: "node-2", KEK: testKEK(t)}); err == nil {
		t.Error("a writer opened with another key-encryption key")
	}
}

// TestGroupCommit appends from many goroutines at once; run it with -race.
func TestGroupCommit(t *testing.T) {
	for _, mode := range []Mode{Sync, Async} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			w := openTest(t, Options{Dir: dir, KEK: testKEK(t), Mode: mode, SegmentSize: 32 << 10, QueueSize: 100})
			const goroutines, each = 16, 50
			var mu sync.Mutex
			acked := map[string]bool{}
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						r := decisionRecord(g*each + i)
						if err := w.Append(context.Background(), r); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acked[r.EventID] = true
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if mode == Async {
				if err := w.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			rep := verifyDir(t, dir)
			mustClean(t, rep)
			if rep.Records != goroutines*each || len(acked) != goroutines*each {
				t.Errorf("%d records, %d acknowledged, want %d", rep.Records, len(acked), goroutines*each)
			}
			ids := eventIDs(t, dir, "node-1")
			for id := range acked {
				if !ids[id] {
					t.Errorf("acknowledged %s is missing", id)
				}
			}
			segs, digs := nodeFiles(t, dir, "node-1")
			if len(segs) < 10 || len(segs) != len(digs) {
				t.Errorf("%d segments, %d digests: want many, one each", len(segs), len(digs))
			}
		})
	}
}

func TestSegmentAge(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	w := openTest(t, Options{Dir: dir, KEK: testKEK(t), Clock: clock.Now, SegmentAge: 40 * time.Millisecond})
	defer w.Close()
	if err := w.Append(context.Background(), decisionRecord(0)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "node-1", digestsDir, digestName(1))); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the segment did not close at its age limit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := readDigest(t, dir, "node-1", digestName(1)); d.CloseReason != CloseAge {
		t.Errorf("closeReason %q, want %q", d.CloseReason, CloseAge)
	}
	if err := w.Append(context.Background(), decisionRecord(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node-1", segmentsDir, segmentName(2))); err != nil {
		t.Errorf("no new segment after the age limit: %v", err)
	}
}

func TestAppendContext(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir(), KEK: testKEK(t)})
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The record may or may not be written; the caller is told it is not
	// known to be, and refuses the access.
	if err := w.Append(ctx, decisionRecord(0)); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: %v", err)
	}
}

func TestMemory(t *testing.T) {
	m := &Memory{Node: "n1", Region: "r"}
	if err := m.Record(context.Background(), decisionRecord(0)); err != nil {
		t.Fatal(err)
	}
	recs := m.Records()
	if len(recs) != 1 || recs[0].ZTGate.Node != "n1" || recs[0].EventID == "" {
		t.Errorf("Memory kept %+v", recs)
	}
	m.Err = errors.New("disk full")
	if err := m.Record(context.Background(), decisionRecord(1)); err == nil {
		t.Error("Memory with Err set accepted a record")
	}
}
