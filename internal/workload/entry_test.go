package workload

import (
	"errors"
	"testing"
	"time"
)

func TestValidateEntries(t *testing.T) {
	ok := Entry{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0"}}
	if err := ValidateEntries([]Entry{ok}); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Entry)) Entry { e := ok; f(&e); return e }
	for name, entries := range map[string][]Entry{
		"empty id":        {with(func(e *Entry) { e.ID = "" })},
		"bad spiffe id":   {with(func(e *Entry) { e.SPIFFEID = "https://example.org/a" })},
		"uppercase td":    {with(func(e *Entry) { e.SPIFFEID = "spiffe://Example.org/a" })},
		"trust domain id": {with(func(e *Entry) { e.SPIFFEID = "spiffe://example.org" })},
		"no selectors":    {with(func(e *Entry) { e.Selectors = nil })},
		"bad selector":    {with(func(e *Entry) { e.Selectors = []string{"unix:uid:0", "unix:uid:root"} })},
		"negative ttl":    {with(func(e *Entry) { e.TTL = -time.Second })},
		"duplicate id":    {ok, with(func(e *Entry) { e.SPIFFEID = "spiffe://example.org/b" })},
	} {
		if err := ValidateEntries(entries); !errors.Is(err, ErrEntry) {
			t.Errorf("%s: %v, want ErrEntry", name, err)
		}
	}
}

func TestEntrySet(t *testing.T) {
	a := Entry{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0"}}
	s, err := NewEntrySet(a)
	if err != nil {
		t.Fatal(err)
	}
	got, changed := s.Snapshot()
	if len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("snapshot %v", got)
	}

	// A bad update changes nothing and wakes nobody.
	if err := s.Set([]Entry{a, {ID: "b"}}); !errors.Is(err, ErrEntry) {
		t.Fatalf("Set with a bad entry: %v", err)
	}
	select {
	case <-changed:
		t.Fatal("failed Set signalled a change")
	default:
	}
	if got, _ := s.Snapshot(); len(got) != 1 {
		t.Fatalf("failed Set replaced the entries: %v", got)
	}

	// A good one wakes the watcher, and the caller's slice is copied.
	in := []Entry{a, {ID: "b", SPIFFEID: "spiffe://example.org/b", Selectors: []string{"unix:gid:0"}}}
	if err := s.Set(in); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Set did not signal the change")
	}
	in[1].Selectors[0] = "unix:gid:1"
	if got, _ := s.Snapshot(); len(got) != 2 || got[1].Selectors[0] != "unix:gid:0" {
		t.Fatalf("set shares the caller's slices: %v", got)
	}
}

func TestEntryMatchesAllSelectors(t *testing.T) {
	e, err := compileEntry(Entry{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0", "unix:path:/bin/x"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if e.ttl != time.Hour {
		t.Errorf("ttl %s, want the default", e.ttl)
	}
	for _, tc := range []struct {
		w    selectorSet
		want bool
	}{
		{selectorSet{"unix:uid:0": {}, "unix:path:/bin/x": {}, "unix:gid:5": {}}, true},
		{selectorSet{"unix:uid:0": {}}, false},
		{selectorSet{"unix:path:/bin/x": {}}, false},
		{selectorSet{}, false},
	} {
		if got := e.matches(tc.w); got != tc.want {
			t.Errorf("matches(%v) = %v", tc.w, got)
		}
	}
}

func TestInvalidEntriesFromSourceAreSkipped(t *testing.T) {
	// An Entries implementation other than EntrySet may hand over
	// anything; the server uses the good entries and logs the rest.
	clock := newFakeClock()
	src := &rawEntries{entries: []Entry{
		{ID: "bad", SPIFFEID: "spiffe://example.org/bad", Selectors: nil},
		{ID: "good", SPIFFEID: "spiffe://example.org/good", Selectors: []string{"unix:uid:0"}},
		{ID: "good", SPIFFEID: "spiffe://example.org/dup", Selectors: []string{"unix:uid:0"}},
	}, changed: make(chan struct{})}
	h := startServer(t, newTestCA(t, clock), clock, nil, func(c *Config) { c.Entries = src })
	svids, err := fetchAll(t, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(svids) != 1 || svids[0] != "spiffe://example.org/good" {
		t.Fatalf("SVIDs %v, want only the good entry", svids)
	}
	if !logged(h, "registration entry skipped") {
		t.Error("skipped entries not logged")
	}
}

type rawEntries struct {
	entries []Entry
	changed chan struct{}
}

func (r *rawEntries) Snapshot() ([]Entry, <-chan struct{}) { return r.entries, r.changed }
