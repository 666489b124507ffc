package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// KeyUse is when, for which service and in which region an access key was
// last used to sign a request that verified.
type KeyUse struct {
	Date    time.Time `json:"date"`
	Service string    `json:"service"`
	Region  string    `json:"region"`
}

// KeyUseInterval is how often a node records the use of the same key: the
// last-used time is precise to this much, as AWS's is to a few hours, so
// that a busy key costs one store write an hour rather than one a request.
const KeyUseInterval = time.Hour

// keyUseRetry is how long a node waits to record a key's use again after
// failing to.
const keyUseRetry = time.Minute

// maxKeyUses bounds the per-node memory of recorded uses.
const maxKeyUses = 100_000

// RecordKeyUse notes that accessKeyID signed a request for service in
// region that verified. A node writes a key's use at most once per
// [KeyUseInterval]; a failed write is logged, never the caller's failure.
func (d *Directory) RecordKeyUse(ctx context.Context, accessKeyID, service, region string) {
	now := d.clock().UTC()
	d.usesMu.Lock()
	if last, ok := d.uses[accessKeyID]; ok && now.Sub(last) < KeyUseInterval && !now.Before(last) {
		d.usesMu.Unlock()
		return
	}
	if d.uses == nil {
		d.uses = map[string]time.Time{}
	}
	if len(d.uses) >= maxKeyUses {
		clear(d.uses) // those keys are simply recorded again
	}
	d.uses[accessKeyID] = now
	d.usesMu.Unlock()

	v, err := json.Marshal(KeyUse{Date: now.Truncate(time.Second), Service: clip(service), Region: clip(region)})
	if err == nil {
		_, err = d.update(ctx, func(tx store.Tx) error {
			// Record only the use of a key that still exists, so that a
			// use racing the key's deletion leaves nothing behind.
			if _, err := tx.Get(ctx, KindAccessKey, accessKeyID); err != nil {
				return err
			}
			_, err := tx.Put(ctx, KindKeyUse, accessKeyID, v)
			return err
		})
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// Try again in a minute, not on every request of a failing store.
		d.usesMu.Lock()
		d.uses[accessKeyID] = now.Add(keyUseRetry - KeyUseInterval)
		d.usesMu.Unlock()
		d.log.Warn("recording an access key's last use failed", "access_key_id", accessKeyID, "err", err)
	}
}

// AccessKeyLastUsed returns the user an access key belongs to and its last
// recorded use: nil when it has not been used since it was created.
func (d *Directory) AccessKeyLastUsed(ctx context.Context, accessKeyID string) (string, *KeyUse, error) {
	_, k, err := getKey(ctx, d.store, accessKeyID)
	if err != nil {
		return "", nil, err
	}
	rec, err := d.store.Get(ctx, KindKeyUse, accessKeyID)
	if errors.Is(err, store.ErrNotFound) {
		return k.User, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("iam: last use of %s: %w", accessKeyID, err)
	}
	use := new(KeyUse)
	if err := json.Unmarshal(rec.Value, use); err != nil {
		return "", nil, fmt.Errorf("iam: last use of %s: %w", accessKeyID, err)
	}
	return k.User, use, nil
}
