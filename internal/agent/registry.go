package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/ztgate/ztgate/internal/store"
)

// getAgent reads the agent name's record: ErrNotFound when there is none.
func getAgent(ctx context.Context, r store.Reader, name string) (AgentRecord, int64, error) {
	rec, err := r.Get(ctx, KindAgent, name)
	if errors.Is(err, store.ErrNotFound) {
		return AgentRecord{}, 0, fmt.Errorf("%w: no agent is named %s", ErrNotFound, quote(name))
	}
	if err != nil {
		return AgentRecord{}, 0, err
	}
	var a AgentRecord
	if err := decode(rec, &a); err != nil {
		return AgentRecord{}, 0, err
	}
	if a.Name != name {
		return AgentRecord{}, 0, fmt.Errorf("agent: record %s/%s names agent %s", KindAgent, quote(name), quote(a.Name))
	}
	return a, rec.Revision, nil
}

// putAgent writes a, replacing the record at revision rev, or creating it
// when rev is 0: a concurrent change fails with store.ErrConflict or
// store.ErrExists rather than being overwritten.
func putAgent(ctx context.Context, tx store.Tx, a AgentRecord, rev int64) error {
	var err error
	if rev == 0 {
		_, err = tx.Create(ctx, KindAgent, a.Name, encode(a))
	} else {
		_, err = tx.Replace(ctx, KindAgent, a.Name, encode(a), rev)
	}
	return err
}

// listAgents returns every agent, in name order; unreadable records are
// skipped and reported.
func listAgents(ctx context.Context, r store.Reader) ([]AgentRecord, []string, error) {
	recs, err := r.List(ctx, KindAgent, "")
	if err != nil {
		return nil, nil, err
	}
	out := make([]AgentRecord, 0, len(recs))
	var bad []string
	for _, rec := range recs {
		var a AgentRecord
		if decode(rec, &a) != nil || a.Name != rec.Key {
			bad = append(bad, rec.Key)
			continue
		}
		out = append(out, a)
	}
	return out, bad, nil
}
