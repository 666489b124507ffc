package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/workload"
)

// DefaultSyncInterval is how often the agent reads its entries.
const DefaultSyncInterval = 5 * time.Second

// initialSyncTimeout bounds the entry read before the Workload API opens.
const initialSyncTimeout = 5 * time.Second

// Config is what an agent needs.
type Config struct {
	// Server is the node's TLS listener, https://HOST[:PORT].
	Server string
	// JoinToken admits the agent on its first start; ignored once it has
	// joined, unless its saved SVID has expired.
	JoinToken JoinToken
	// TrustBundle (a SPIFFE bundle or PEM certificates) verifies the
	// server's certificate: at the join, and always after it beside the
	// trust domain's bundle (for a node whose listener has a certificate
	// from elsewhere).
	TrustBundle []byte
	// InsecureBootstrap joins without verifying the server's certificate
	// when no TrustBundle is given: whoever answers at Server first is
	// trusted from then on. Unsafe on any network an attacker can reach.
	InsecureBootstrap bool
	// Dir holds the agent's state: svid.pem (0600), bundle.json.
	Dir string
	// Socket is the Workload API's Unix socket; Dir/agent.sock when empty.
	Socket string
	// SyncInterval is how often entries are read; DefaultSyncInterval
	// when zero.
	SyncInterval time.Duration
	Log          *slog.Logger // discarded when nil
}

// Agent is a host's agent: it holds its own identity, follows its
// registration entries, and serves the Workload API with SVIDs the
// server issues for them.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	c     *client
	extra []*x509.Certificate // from Config.TrustBundle

	id      atomic.Pointer[identity]
	bundle  atomic.Pointer[heldBundle]
	known   atomic.Pointer[[]EntryJSON] // as last read from the server
	entries *workload.EntrySet

	mu     sync.Mutex
	health map[string]error // the last outcome of each kind of call, for logging transitions
	refuse bool             // the server refuses this agent
}

// heldBundle is the trust bundle the agent holds, parsed and as sent.
type heldBundle struct {
	b   *pki.Bundle
	raw []byte
}

// New checks cfg and returns an agent that Run starts.
func New(cfg Config) (*Agent, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no data directory", ErrInvalid)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(dir, socketFile)
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c, err := newClient(cfg.Server)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Log, c: c, health: map[string]error{}}
	if len(cfg.TrustBundle) > 0 {
		if a.extra, err = parseTrustBundle(cfg.TrustBundle); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if a.entries, err = workload.NewEntrySet(); err != nil {
		return nil, err
	}
	return a, nil
}

// Run joins if the agent has not, then serves the Workload API, renews
// its own SVID and follows its entries until ctx ends; it returns nil
// then. While the server is unreachable the agent keeps serving what it
// holds. It fails at once if it cannot get an identity: never joined and
// no token, a refused join, unreadable state.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		return err
	}
	id := a.id.Load()
	srv, err := workload.New(workload.Config{
		Socket:  a.cfg.Socket,
		Issuer:  issuer{a},
		Entries: a.entries,
		Log:     a.log.With("component", "workload-api"),
	})
	if err != nil {
		return err
	}
	a.log.Info("agent running", "spiffe_id", id.svid.ID.String(), "server", a.c.base, "socket", a.cfg.Socket,
		"svid_expires", id.leaf().NotAfter, "renew_at", id.renewAt())
	if fi, err := os.Stat(filepath.Dir(a.cfg.Socket)); err == nil && fi.Mode().Perm()&0o001 == 0 {
		a.log.Warn("other users cannot reach the workload api socket's directory: only processes with its owner's or group's rights get identities",
			"dir", filepath.Dir(a.cfg.Socket), "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	// Entries first, so that the first workloads to call are matched;
	// briefly, so that an unreachable server does not hold the socket up.
	sctx, scancel := context.WithTimeout(ctx, initialSyncTimeout)
	a.sync(sctx)
	scancel()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.renewLoop(ctx) })
	wg.Go(func() { a.syncLoop(ctx) })
	err = srv.Run(ctx)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	a.log.Info("agent stopped")
	return nil
}

// start loads the saved identity, or joins.
func (a *Agent) start(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.Dir, 0o711); err != nil {
		return fmt.Errorf("agent data directory: %w", err)
	}
	id, b, raw, err := loadState(a.cfg.Dir)
	switch {
	case err == nil && time.Now().Before(id.leaf().NotAfter):
		if a.cfg.JoinToken != "" {
			a.log.Warn("agent already joined; the join token is ignored", "spiffe_id", id.svid.ID.String())
		}
		a.install(id, &heldBundle{b: b, raw: raw})
		return nil
	case err == nil:
		if a.cfg.JoinToken == "" {
			return fmt.Errorf("%w: the agent's svid expired at %s, so the server will not renew it: join again with a new token (ztgate agent token create --name %s)",
				ErrNotJoined, id.leaf().NotAfter.Format(time.RFC3339), id.name)
		}
		a.log.Warn("agent svid expired; joining again with the token given", "spiffe_id", id.svid.ID.String(), "expired", id.leaf().NotAfter)
	case errors.Is(err, fs.ErrNotExist):
		if a.cfg.JoinToken == "" {
			return fmt.Errorf("%w: no identity in %s: give a join token (ztgate agent token create) for the first start", ErrNotJoined, a.cfg.Dir)
		}
	default:
		return fmt.Errorf("agent state: %w (to join again, remove %s and give a new join token)", err, filepath.Join(a.cfg.Dir, svidFile))
	}
	return a.join(ctx)
}

// join gets the agent's first identity with the join token, retrying
// while the server cannot be reached: an agent may start before its
// server. A refusal is final.
func (a *Agent) join(ctx context.Context) error {
	switch {
	case len(a.extra) > 0:
		a.setRoots(nil)
	case a.cfg.InsecureBootstrap:
		a.log.Warn("insecure bootstrap: the server's certificate is not verified for the join; whoever answers is trusted from now on", "server", a.c.base)
		a.c.insecure.Store(true)
		defer a.c.insecure.Store(false)
	default:
		return fmt.Errorf("%w: nothing to verify the server with at the join: give --trust-bundle (from ztgate ca show --format bundle), or, unsafely, --insecure-bootstrap", ErrInvalid)
	}
	key, csr, err := newKey()
	if err != nil {
		return err
	}
	var wait time.Duration
	for {
		resp, err := a.c.join(ctx, a.cfg.JoinToken, csr)
		if err == nil {
			id, b, err := checkIssued(resp, key, "", time.Now())
			if err != nil {
				return fmt.Errorf("join: %w", err)
			}
			if err := saveIdentity(a.cfg.Dir, id); err != nil {
				return err
			}
			if err := saveBundle(a.cfg.Dir, resp.Bundle); err != nil {
				return err
			}
			a.install(id, &heldBundle{b: b, raw: resp.Bundle})
			a.log.Info("agent joined", "spiffe_id", id.svid.ID.String(), "serial", serialText(id.leaf().SerialNumber), "svid_expires", id.leaf().NotAfter)
			return nil
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) || errors.Is(err, errServerUntrusted) {
			return fmt.Errorf("join: %w", err)
		}
		wait = nextWait(wait)
		a.log.Warn("join failed; retrying", "server", a.c.base, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// install makes id and b the agent's.
func (a *Agent) install(id *identity, b *heldBundle) {
	a.id.Store(id)
	a.c.setCert(id.cert)
	if b != nil {
		a.bundle.Store(b)
		a.setRoots(b.b)
	}
}

// setRoots makes the server's certificate verify against b's
// authorities and the roots given at start.
func (a *Agent) setRoots(b *pki.Bundle) {
	pool := x509.NewCertPool()
	for _, c := range a.extra {
		pool.AddCert(c)
	}
	if b != nil {
		for _, c := range b.X509Authorities() {
			pool.AddCert(c)
		}
	}
	a.c.roots.Store(pool)
}

// observe logs the outcome of a call to the server when it differs from
// the last of its kind, so that an outage gives one line when it starts
// and one when it ends, not one per retry. A refusal of the agent itself
// is an error, said once.
func (a *Agent) observe(op string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev, seen := a.health[op]
	a.health[op] = err
	if refusal(err) {
		if !a.refuse {
			a.refuse = true
			a.log.Error("the server refuses this agent: it gets no new identities, and its workloads keep their current SVIDs until they expire; revoked agents must be replaced by one with another name",
				"spiffe_id", a.id.Load().svid.ID.String(), "op", op, "err", err)
		}
		return
	}
	switch {
	case err == nil && a.refuse:
		a.refuse = false
		a.log.Info("the server accepts this agent again", "op", op)
	case err == nil && seen && prev != nil:
		a.log.Info("server reachable again", "op", op)
	case err != nil && (!seen || prev == nil || prev.Error() != err.Error()):
		a.log.Warn("call to the server failed; serving what the agent holds", "op", op, "err", err)
	}
}
