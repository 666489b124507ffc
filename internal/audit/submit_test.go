package audit

import (
	"context"
	"errors"
	"testing"
)

// TestSubmit: records submitted without waiting are each on disk once
// their wait returns; a wait honours its context; Submit after Close is
// refused; in async mode the wait returns at once.
func TestSubmit(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir, KEK: testKEK(t)})
	ctx := context.Background()
	var waits []func(context.Context) error
	var ids []string
	for i := range 50 {
		r := decisionRecord(i)
		wait, err := w.Submit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, wait)
		ids = append(ids, r.EventID)
	}
	for i, wait := range waits {
		if err := wait(ctx); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
	}
	// Every waited record is in the segment file now, before Close.
	got := eventIDs(t, dir, "node-1")
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("record %s waited on but not on disk", id)
		}
	}
	// A wait honours its context.
	wait, err := w.Submit(ctx, decisionRecord(99))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := wait(cancelled); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Submit(ctx, decisionRecord(100)); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v", err)
	}
	mustClean(t, verifyDir(t, dir))

	// In async mode the wait returns at once.
	a := openTest(t, Options{Dir: t.TempDir(), KEK: testKEK(t), Mode: Async})
	defer a.Close()
	wait, err = a.Submit(ctx, decisionRecord(1))
	if err != nil || wait(cancelled) != nil {
		t.Fatalf("async: %v", err)
	}
}
