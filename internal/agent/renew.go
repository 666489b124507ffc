package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// Retries of failed calls wait from minRetry, doubling to maxRetry,
// jittered so that the agents of a fleet do not return to a recovering
// server in step.
const (
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

func nextWait(prev time.Duration) time.Duration {
	return min(max(2*prev, minRetry), maxRetry)
}

// jitter returns a duration between d/2 and d.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

// renewLoop renews the agent's SVID at half of its life, and retries a
// failed renewal until it succeeds or the SVID expires. After that the
// server refuses the agent, which must join again.
func (a *Agent) renewLoop(ctx context.Context) {
	var wait time.Duration
	for {
		id := a.id.Load()
		at := id.renewAt()
		if wait > 0 {
			at = time.Now().Add(jitter(wait))
		}
		if !at.Before(id.leaf().NotAfter) {
			at = id.leaf().NotAfter
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(at)):
		}
		if !time.Now().Before(id.leaf().NotAfter) {
			a.log.Error("the agent's svid has expired, so the server will not renew it: join again with a new token (ztgate agent token create)",
				"spiffe_id", id.svid.ID.String(), "expired", id.leaf().NotAfter)
			return
		}
		err := a.renew(ctx)
		a.observe("renew", err)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			wait = nextWait(wait)
			continue
		}
		wait = 0
	}
}

// renew gets a new SVID, for a new key, over mTLS with the current one.
func (a *Agent) renew(ctx context.Context) error {
	old := a.id.Load()
	key, csr, err := newKey()
	if err != nil {
		return err
	}
	resp, err := a.c.renew(ctx, csr)
	if err != nil {
		return err
	}
	id, b, err := checkIssued(resp, key, old.svid.ID.String(), time.Now())
	if err != nil {
		return err
	}
	// Saved before use: an agent that restarts presents what it saved,
	// and the server accepts the current and the previous certificate.
	if err := saveIdentity(a.cfg.Dir, id); err != nil {
		a.log.Error("renewed svid not saved; using it all the same", "err", err)
	}
	held := a.keepBundle(b, resp.Bundle)
	a.install(id, held)
	a.log.Info("agent svid renewed", "serial", serialText(id.leaf().SerialNumber), "svid_expires", id.leaf().NotAfter, "renew_at", id.renewAt())
	return nil
}
