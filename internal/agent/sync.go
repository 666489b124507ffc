package agent

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/workload"
)

// syncLoop reads the agent's entries every SyncInterval.
func (a *Agent) syncLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.sync(ctx)
		}
	}
}

// sync reads the entries and, when they changed, hands them to the
// Workload API. On failure the entries held stay in force: the server
// being down takes no identity away.
func (a *Agent) sync(ctx context.Context) {
	got, err := a.c.entries(ctx)
	a.observe("entries", err)
	if err != nil {
		return
	}
	td := a.id.Load().svid.ID.TrustDomain()
	valid := make([]EntryJSON, 0, len(got))
	entries := make([]workload.Entry, 0, len(got))
	for _, e := range got {
		we, err := toWorkloadEntry(e, td)
		if err != nil {
			a.log.Warn("registration entry from the server skipped", "entry", e.ID, "err", err)
			continue
		}
		valid = append(valid, e)
		entries = append(entries, we)
	}
	if old := a.known.Load(); old != nil && slices.EqualFunc(*old, valid, sameEntry) {
		return
	}
	if err := a.entries.Set(entries); err != nil {
		a.log.Error("registration entries refused by the workload api", "err", err)
		return
	}
	a.known.Store(&valid)
	a.log.Info("registration entries updated", "entries", len(valid))
}

// toWorkloadEntry checks an entry from the server as the Workload API
// will, and that it is of the agent's trust domain.
func toWorkloadEntry(e EntryJSON, td pki.TrustDomain) (workload.Entry, error) {
	id, err := pki.ParseID(e.SPIFFEID)
	if err != nil {
		return workload.Entry{}, err
	}
	if !id.MemberOf(td) || reserved(id.Path()) {
		return workload.Entry{}, errorString("spiffe id " + quote(e.SPIFFEID) + " is outside the agent's trust domain or reserved")
	}
	var ttl time.Duration
	if e.TTL != "" {
		if ttl, err = time.ParseDuration(e.TTL); err != nil || ttl <= 0 {
			return workload.Entry{}, errorString("ttl " + quote(e.TTL) + " is not a positive duration")
		}
	}
	we := workload.Entry{ID: e.ID, SPIFFEID: e.SPIFFEID, Selectors: e.Selectors, TTL: ttl}
	if err := workload.ValidateEntries([]workload.Entry{we}); err != nil {
		return workload.Entry{}, err
	}
	return we, nil
}

func sameEntry(a, b EntryJSON) bool {
	return a.ID == b.ID && a.SPIFFEID == b.SPIFFEID && a.TTL == b.TTL && slices.Equal(a.Selectors, b.Selectors)
}

// keepBundle makes b the bundle held, and saves it, when it changed.
func (a *Agent) keepBundle(b *pki.Bundle, raw []byte) *heldBundle {
	if old := a.bundle.Load(); old != nil && bytes.Equal(old.raw, raw) {
		return old
	}
	if err := saveBundle(a.cfg.Dir, raw); err != nil {
		a.log.Error("trust bundle not saved", "err", err)
	}
	a.log.Info("trust bundle updated", "trust_domain", b.TrustDomain().String(), "authorities", len(b.X509Authorities()))
	return &heldBundle{b: b, raw: raw}
}

type errorString string

func (e errorString) Error() string { return string(e) }
