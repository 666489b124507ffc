package workload

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ErrEntry classifies a registration entry that cannot be used.
var ErrEntry = errors.New("invalid registration entry")

// Entry is a registration entry: the workloads that have every one of
// Selectors get an X509-SVID for SPIFFEID.
type Entry struct {
	ID        string        // unique among the entries; the SVID cache is keyed by it
	SPIFFEID  string        // spiffe://trust-domain/path, with a non-empty path
	Selectors []string      // unix:KIND:VALUE; at least one, all must match
	TTL       time.Duration // the X509-SVID's requested lifetime; Config.DefaultTTL when zero
}

// Entries is where the server reads registration entries from. The agent
// keeps them in step with the server's; the Workload API re-evaluates every
// open stream when they change.
type Entries interface {
	// Snapshot returns the current entries, in the order that decides
	// which SVID is a workload's default (the first it matches), and a
	// channel that is closed once they have been replaced. Returning both
	// at once means a change between reading and watching cannot be
	// missed. The caller must not modify the slice.
	Snapshot() (entries []Entry, changed <-chan struct{})
}

// EntrySet is an Entries held in memory, replaced as a whole by Set.
type EntrySet struct {
	mu      sync.Mutex
	entries []Entry
	changed chan struct{}
}

var _ Entries = (*EntrySet)(nil)

// NewEntrySet returns a set holding entries, which must be valid.
func NewEntrySet(entries ...Entry) (*EntrySet, error) {
	s := &EntrySet{changed: make(chan struct{})}
	if err := s.Set(entries); err != nil {
		return nil, err
	}
	return s, nil
}

// Set replaces the entries. If any entry is invalid, or two share an ID,
// the set keeps its previous entries and Set reports the first problem.
func (s *EntrySet) Set(entries []Entry) error {
	if err := ValidateEntries(entries); err != nil {
		return err
	}
	cp := make([]Entry, len(entries))
	for i, e := range entries {
		e.Selectors = slices.Clone(e.Selectors)
		cp[i] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = cp
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// Snapshot implements Entries.
func (s *EntrySet) Snapshot() ([]Entry, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries, s.changed
}

// ValidateEntries checks each entry and that no two share an ID.
func ValidateEntries(entries []Entry) error {
	seen := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		if _, err := compileEntry(e, time.Hour); err != nil {
			return err
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("%w %q: duplicate id", ErrEntry, clip(e.ID))
		}
		seen[e.ID] = struct{}{}
	}
	return nil
}

// entry is an Entry checked and put in the form matching uses.
type entry struct {
	id        string
	spiffeID  spiffeid.ID
	selectors []string // canonical text
	ttl       time.Duration
}

// compileEntry checks e. An entry without selectors is refused rather than
// treated as matching every workload: granting an identity to whatever
// connects must never be the result of an omission.
func compileEntry(e Entry, defaultTTL time.Duration) (entry, error) {
	if e.ID == "" {
		return entry{}, fmt.Errorf("%w: empty id", ErrEntry)
	}
	id, err := spiffeid.FromString(e.SPIFFEID)
	if err != nil {
		return entry{}, fmt.Errorf("%w %q: spiffe id: %v", ErrEntry, clip(e.ID), err)
	}
	if id.Path() == "" {
		// The X509-SVID specification forbids a trust domain's own ID
		// in a leaf, and go-spiffe refuses such an SVID.
		return entry{}, fmt.Errorf("%w %q: spiffe id must have a path", ErrEntry, clip(e.ID))
	}
	if len(e.Selectors) == 0 {
		return entry{}, fmt.Errorf("%w %q: no selectors", ErrEntry, clip(e.ID))
	}
	if e.TTL < 0 {
		return entry{}, fmt.Errorf("%w %q: negative ttl", ErrEntry, clip(e.ID))
	}
	out := entry{id: e.ID, spiffeID: id, ttl: e.TTL, selectors: make([]string, 0, len(e.Selectors))}
	if out.ttl == 0 {
		out.ttl = defaultTTL
	}
	for _, s := range e.Selectors {
		sel, err := ParseSelector(s)
		if err != nil {
			return entry{}, fmt.Errorf("%w %q: %w", ErrEntry, clip(e.ID), err)
		}
		out.selectors = append(out.selectors, sel.String())
	}
	return out, nil
}

// selectorSet is what attestation found out about a workload.
type selectorSet map[string]struct{}

// matches reports whether the workload has every selector the entry
// requires.
func (e *entry) matches(w selectorSet) bool {
	for _, s := range e.selectors {
		if _, ok := w[s]; !ok {
			return false
		}
	}
	return true
}
