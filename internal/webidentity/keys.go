package webidentity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// keySet is one fetched JWKS, immutable once built.
type keySet struct {
	keys  []*publicKey
	kids  map[string]bool
	fetch time.Time // when the fetch that produced it started
}

// candidates returns the keys that may verify a token with this kid and
// alg: those with that kid, or every key when the token names none.
func (s *keySet) candidates(kid, name string, a *algorithm) []*publicKey {
	var out []*publicKey
	for _, k := range s.keys {
		if (kid == "" || k.kid == kid) && k.fits(name, a) {
			out = append(out, k)
		}
	}
	return out
}

// keyCache holds one issuer's keys and the state of fetching them.
type keyCache struct {
	mu        sync.Mutex
	set       *keySet   // last successful fetch; nil before the first
	attempted time.Time // when the last fetch started
	lastErr   error     // of the last fetch, nil if it succeeded
	inflight  *fetchCall
}

// fetchCall is one fetch in progress, which concurrent callers share.
type fetchCall struct {
	done chan struct{}
	err  error
}

// keys returns the issuer's fresh key set, fetching one when there is none.
// With refresh set (the token's kid is unknown) it fetches again unless a
// fetch started less than minRefetchInterval ago; refreshErr then reports
// that the latest refresh failed and the fresh keys returned stood in. With no
// fresh keys to return, set is nil and refreshErr says why.
func (v *Verifier) keys(ctx context.Context, is *issuer, now time.Time, refresh bool) (set *keySet, refreshErr error) {
	c := &is.cache
	for {
		c.mu.Lock()
		fresh := c.set != nil && now.Sub(c.set.fetch) < v.ttl
		if fresh && !refresh {
			set = c.set
			c.mu.Unlock()
			return set, nil
		}
		f := c.inflight
		if f == nil {
			interval := minRefetchInterval
			if !fresh {
				interval = retryInterval
			}
			if !c.attempted.IsZero() && now.Sub(c.attempted) < interval {
				err := c.lastErr
				if fresh {
					// Rate limited: report the last refresh's failure
					// (if it failed) as if this one had been tried.
					set = c.set
					c.mu.Unlock()
					v.log.Debug("jwks refetch rate limited", "issuer", is.url)
					return set, err
				}
				c.mu.Unlock()
				if err == nil {
					err = fmt.Errorf("%w: no fresh keys", ErrProvider)
				}
				return nil, err
			}
			f = &fetchCall{done: make(chan struct{})}
			c.inflight = f
			c.attempted = now
			// The fetch outlives this caller if it gives up: others may
			// be waiting on it. It keeps the context's values, not its
			// cancellation, and has its own deadline.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
			go func() {
				defer cancel()
				set, err := v.fetch(fctx, is, now)
				c.mu.Lock()
				if err == nil {
					c.set = set
				}
				c.lastErr = err
				c.inflight = nil
				f.err = err
				c.mu.Unlock()
				close(f.done)
			}()
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for keys: %w", ErrProvider, ctx.Err())
		}
		if refresh && f.err != nil {
			c.mu.Lock()
			set, fresh = c.set, c.set != nil && now.Sub(c.set.fetch) < v.ttl
			c.mu.Unlock()
			if fresh {
				return set, f.err
			}
		}
		// A fetch that finished while we waited serves as ours: look
		// again without asking for another.
		refresh = false
	}
}

// fetch discovers the JWKS URL if none is configured and fetches the keys.
func (v *Verifier) fetch(ctx context.Context, is *issuer, now time.Time) (*keySet, error) {
	set, err := v.fetchKeys(ctx, is, now)
	if err != nil {
		v.log.Warn("jwks fetch failed", "issuer", is.url, "error", err)
		return nil, err
	}
	v.log.Info("jwks fetched", "issuer", is.url, "keys", len(set.keys))
	return set, nil
}

func (v *Verifier) fetchKeys(ctx context.Context, is *issuer, now time.Time) (*keySet, error) {
	jwksURL := is.jwksURL
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.getJSON(ctx, is.discoveryURL, &doc); err != nil {
			return nil, fmt.Errorf("%w: discovery: %w", ErrProvider, err)
		}
		// OIDC Discovery §4.3: a document for another issuer must not
		// be used, or one IdP could vouch for another's tokens.
		if doc.Issuer != is.url {
			return nil, fmt.Errorf("%w: discovery: issuer %s does not match %s", ErrProvider, quote(doc.Issuer), is.url)
		}
		if err := checkURL(doc.JWKSURI); err != nil {
			return nil, fmt.Errorf("%w: discovery: jwks_uri %s: %w", ErrProvider, quote(doc.JWKSURI), err)
		}
		jwksURL = doc.JWKSURI
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := v.getJSON(ctx, jwksURL, &doc); err != nil {
		return nil, fmt.Errorf("%w: jwks: %w", ErrProvider, err)
	}
	set := &keySet{kids: make(map[string]bool), fetch: now}
	for i, raw := range doc.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			level := slog.LevelWarn
			if errors.Is(err, errSkip) {
				level = slog.LevelDebug
			}
			v.log.Log(ctx, level, "jwk skipped", "issuer", is.url, "index", i, "reason", err.Error())
			continue
		}
		if len(set.keys) == maxKeys {
			v.log.Warn("jwks has too many keys", "issuer", is.url, "kept", maxKeys, "keys", len(doc.Keys))
			break
		}
		set.keys = append(set.keys, k)
		set.kids[k.kid] = true
	}
	if len(set.keys) == 0 {
		return nil, fmt.Errorf("%w: jwks: no usable keys among %d", ErrProvider, len(doc.Keys))
	}
	return set, nil
}

// getJSON fetches url and decodes its JSON body, read to at most
// maxResponseBytes.
func (v *Verifier) getJSON(ctx context.Context, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	if len(body) > maxResponseBytes {
		return fmt.Errorf("%s: response larger than %d bytes", url, maxResponseBytes)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("%s: not json: %w", url, err)
	}
	return nil
}
