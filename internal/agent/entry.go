package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/workload"
)

// Limits of a registration entry.
const (
	MaxSelectors  = 16
	maxEntryIDLen = 64
)

// EntryRequest asks the control API for a registration entry.
type EntryRequest struct {
	SPIFFEID  string   `json:"spiffe_id"`
	Parent    string   `json:"parent"` // the agent's name
	Selectors []string `json:"selectors"`
	TTL       string   `json:"ttl,omitempty"` // a Go duration, whole seconds; the CA's default when empty
}

// checkEntry validates an entry request for the trust domain td, with
// lifetimes up to maxTTL, and returns the record it makes (without id).
func checkEntry(td pki.TrustDomain, maxTTL time.Duration, req EntryRequest) (entryRecord, error) {
	id, err := pki.ParseID(req.SPIFFEID)
	if err != nil {
		return entryRecord{}, fmt.Errorf("%w: spiffe_id: %v", ErrInvalid, err)
	}
	switch {
	case !id.MemberOf(td):
		return entryRecord{}, fmt.Errorf("%w: spiffe_id %s is not in the trust domain %s", ErrInvalid, quote(id.String()), quote(td.String()))
	case id.Path() == "":
		return entryRecord{}, fmt.Errorf("%w: spiffe_id %s names the trust domain, not a workload", ErrInvalid, quote(id.String()))
	case reserved(id.Path()):
		return entryRecord{}, fmt.Errorf("%w: spiffe_id %s: the paths /ztgate/... and /device/... are reserved for ztgate's own identities", ErrInvalid, quote(id.String()))
	}
	if err := CheckName(req.Parent); err != nil {
		return entryRecord{}, fmt.Errorf("parent: %w", err)
	}
	sels, err := checkSelectors(req.Selectors)
	if err != nil {
		return entryRecord{}, err
	}
	ttl, err := parseTTL(req.TTL, maxTTL)
	if err != nil {
		return entryRecord{}, err
	}
	return entryRecord{SPIFFEID: id.String(), Parent: req.Parent, Selectors: sels, TTLSeconds: int64(ttl / time.Second)}, nil
}

// checkSelectors applies the Workload API's selector syntax, and refuses
// none (an entry for every process is never meant) and duplicates.
func checkSelectors(in []string) ([]string, error) {
	switch {
	case len(in) == 0:
		return nil, fmt.Errorf("%w: selectors: at least one is needed (an entry without selectors would match every process)", ErrInvalid)
	case len(in) > MaxSelectors:
		return nil, fmt.Errorf("%w: selectors: %d given, at most %d", ErrInvalid, len(in), MaxSelectors)
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		sel, err := workload.ParseSelector(s)
		if err != nil {
			return nil, fmt.Errorf("%w: selectors: %v", ErrInvalid, err)
		}
		if slices.Contains(out, sel.String()) {
			return nil, fmt.Errorf("%w: selectors: %s given twice", ErrInvalid, quote(s))
		}
		out = append(out, sel.String())
	}
	return out, nil
}

// parseTTL reads an entry's TTL: empty for the CA's default, else whole
// seconds from one second to max.
func parseTTL(s string, max time.Duration) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: ttl %s is not a duration such as 30m or 1h", ErrInvalid, quote(s))
	case d < time.Second || d%time.Second != 0:
		return 0, fmt.Errorf("%w: ttl %s: whole seconds, at least 1s", ErrInvalid, quote(s))
	case d > max:
		return 0, fmt.Errorf("%w: ttl %s exceeds the certificate authority's maximum %s", ErrInvalid, quote(s), max)
	}
	return d, nil
}

// checkEntryID refuses an entry id that newEntryID cannot have made.
func checkEntryID(id string) error {
	if id == "" || len(id) > maxEntryIDLen {
		return fmt.Errorf("%w: entry id must have 1 to %d characters", ErrInvalid, maxEntryIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%w: entry id %s: only lowercase letters, digits and '-'", ErrInvalid, quote(id))
		}
	}
	return nil
}

func newEntryID(r io.Reader) (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// createEntry stores a registration entry. Its parent must be an agent
// that is registered and not revoked, or one a pending join token
// admits, so that a misspelt parent is caught at once; an entry with the
// same SPIFFE ID, parent and selectors as another is refused.
func (s *Server) createEntry(ctx context.Context, st store.Store, req EntryRequest, by string) (entryRecord, error) {
	ca := s.cfg.CA()
	if ca == nil {
		return entryRecord{}, errCAUnavailable
	}
	e, err := checkEntry(ca.TrustDomain(), s.maxTTL, req)
	if err != nil {
		return entryRecord{}, err
	}
	if e.ID, err = newEntryID(rand.Reader); err != nil {
		return entryRecord{}, err
	}
	e.Created, e.CreatedBy = s.clock().UTC(), by
	_, err = st.Update(ctx, func(tx store.Tx) error {
		a, _, err := getAgent(ctx, tx, e.Parent)
		switch {
		case err == nil && a.Revoked:
			return fmt.Errorf("%w: parent agent %s is revoked", ErrRevoked, quote(e.Parent))
		case errors.Is(err, ErrNotFound):
			ok, err := tokenAdmits(ctx, tx, e.Parent, s.clock())
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: parent agent %s is not registered, and no pending join token admits it", ErrNotFound, quote(e.Parent))
			}
		case err != nil:
			return err
		}
		siblings, err := tx.List(ctx, KindEntry, e.Parent+"/")
		if err != nil {
			return err
		}
		for _, rec := range siblings {
			var o entryRecord
			if decode(rec, &o) == nil && o.SPIFFEID == e.SPIFFEID && sameSet(o.Selectors, e.Selectors) {
				return fmt.Errorf("%w: entry %s already grants %s to these selectors under agent %s", ErrInvalid, o.ID, quote(e.SPIFFEID), quote(e.Parent))
			}
		}
		_, err = tx.Create(ctx, KindEntry, entryKey(e.Parent, e.ID), encode(e))
		return err
	})
	if err != nil {
		return entryRecord{}, err
	}
	return e, nil
}

// tokenAdmits reports whether an unexpired join token admits name.
func tokenAdmits(ctx context.Context, r store.Reader, name string, now time.Time) (bool, error) {
	recs, err := r.List(ctx, KindJoinToken, "")
	if err != nil {
		return false, err
	}
	for _, rec := range recs {
		var t joinToken
		if decode(rec, &t) == nil && t.Name == name && now.Before(t.Expires) {
			return true, nil
		}
	}
	return false, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// listEntries returns the entries of the agent parent, or every entry
// when parent is empty, in key order. Records that do not read back as a
// valid entry (written by hand, say) are left out and logged: they grant
// nothing.
func listEntries(ctx context.Context, r store.Reader, parent string, td pki.TrustDomain, log *slog.Logger) ([]entryRecord, error) {
	prefix := ""
	if parent != "" {
		prefix = parent + "/"
	}
	recs, err := r.List(ctx, KindEntry, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]entryRecord, 0, len(recs))
	for _, rec := range recs {
		e, err := readEntry(rec, td)
		if err != nil {
			log.Warn("agent: registration entry record ignored", "key", rec.Key, "err", err)
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// readEntry reads an entry record and checks it again.
func readEntry(rec store.Record, td pki.TrustDomain) (entryRecord, error) {
	var e entryRecord
	if err := decode(rec, &e); err != nil {
		return e, err
	}
	if rec.Key != entryKey(e.Parent, e.ID) || checkEntryID(e.ID) != nil || e.TTLSeconds < 0 {
		return e, fmt.Errorf("%w: record key, id or ttl inconsistent", ErrInvalid)
	}
	req := EntryRequest{SPIFFEID: e.SPIFFEID, Parent: e.Parent, Selectors: e.Selectors}
	if _, err := checkEntry(td, 0, req); err != nil { // no ttl in req: its bound is unused
		return e, err
	}
	return e, nil
}

// getEntry returns the entry id whose parent is the agent parent, or
// errEntryUnknown: an entry of another agent is as unknown as a missing
// one.
func getEntry(ctx context.Context, r store.Reader, parent, id string, td pki.TrustDomain) (entryRecord, error) {
	if checkEntryID(id) != nil {
		return entryRecord{}, errEntryUnknown
	}
	rec, err := r.Get(ctx, KindEntry, entryKey(parent, id))
	if errors.Is(err, store.ErrNotFound) {
		return entryRecord{}, errEntryUnknown
	}
	if err != nil {
		return entryRecord{}, err
	}
	e, err := readEntry(rec, td)
	if err != nil || e.Parent != parent {
		return entryRecord{}, errEntryUnknown
	}
	return e, nil
}

// deleteEntry removes the entry id, whatever its parent.
func deleteEntry(ctx context.Context, st store.Store, id string) (entryRecord, error) {
	if err := checkEntryID(id); err != nil {
		return entryRecord{}, err
	}
	recs, err := st.List(ctx, KindEntry, "")
	if err != nil {
		return entryRecord{}, err
	}
	for _, rec := range recs {
		if !strings.HasSuffix(rec.Key, "/"+id) {
			continue
		}
		var e entryRecord
		decode(rec, &e) // an unreadable record is deleted all the same
		e.ID = id
		if _, err := store.Delete(ctx, st, KindEntry, rec.Key); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			return entryRecord{}, err
		}
		return e, nil
	}
	return entryRecord{}, fmt.Errorf("%w: no registration entry has id %s", ErrNotFound, quote(id))
}
