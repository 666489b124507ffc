package agent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// Join token lifetimes.
const (
	DefaultTokenTTL = time.Hour
	MaxTokenTTL     = 24 * time.Hour
)

const (
	// tokenPrefix marks ztgate join tokens, for people and secret
	// scanners.
	tokenPrefix = "ztgate-join-"
	// tokenBytes of randomness: 256 bits, so that guessing one is out of
	// reach however many joins an attacker tries.
	tokenBytes = 32
	tokenLen   = len(tokenPrefix) + (tokenBytes*8+5)/6
)

// JoinToken is a one-time secret that admits one agent. It prints as
// redacted (fmt, slog); Reveal returns it.
type JoinToken string

var (
	_ fmt.Formatter  = JoinToken("")
	_ slog.LogValuer = JoinToken("")
)

// Reveal returns the token's text.
func (t JoinToken) Reveal() string { return string(t) }

// Format prints the token as redacted, whatever the verb.
func (t JoinToken) Format(f fmt.State, _ rune) { io.WriteString(f, "[REDACTED join token]") }

// LogValue makes log/slog print the token as redacted.
func (t JoinToken) LogValue() slog.Value { return slog.StringValue("[REDACTED join token]") }

// newToken draws a token from r.
func newToken(r io.Reader) (JoinToken, error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("agent: join token: %w", err)
	}
	return JoinToken(tokenPrefix + base64.RawURLEncoding.EncodeToString(b)), nil
}

// wellFormed reports whether s can be a token newToken made, so that
// garbage is refused without a store read.
func wellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok || len(s) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// tokenKey is the token's record key: the SHA-256 of its text. A token
// is random, so a plain hash is enough for the store to never hold one.
func tokenKey(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// tokenID names a token in audit records and answers without revealing
// it: a prefix of its hash.
func tokenID(key string) string { return key[:16] }

// createToken stores a new join token admitting the agent name for ttl,
// and returns it. Expired tokens are deleted on the way.
func (s *Server) createToken(ctx context.Context, st store.Store, name string, ttl time.Duration, by string) (JoinToken, joinToken, error) {
	if err := CheckName(name); err != nil {
		return "", joinToken{}, err
	}
	switch {
	case ttl == 0:
		ttl = DefaultTokenTTL
	case ttl < time.Second || ttl > MaxTokenTTL:
		return "", joinToken{}, fmt.Errorf("%w: ttl %s: a join token lives from 1s to %s", ErrInvalid, ttl, MaxTokenTTL)
	}
	tok, err := newToken(s.rand)
	if err != nil {
		return "", joinToken{}, err
	}
	now := s.clock().UTC()
	rec := joinToken{Name: name, Expires: now.Add(ttl), Created: now, CreatedBy: by}
	_, err = st.Update(ctx, func(tx store.Tx) error {
		a, _, err := getAgent(ctx, tx, name)
		switch {
		case err == nil && a.Revoked:
			return fmt.Errorf("%w: agent %s is revoked; a revoked name cannot join again, choose another", ErrRevoked, quote(name))
		case err != nil && !errors.Is(err, ErrNotFound):
			return err
		}
		old, err := tx.List(ctx, KindJoinToken, "")
		if err != nil {
			return err
		}
		for _, r := range old {
			var t joinToken
			if decode(r, &t) != nil || !now.Before(t.Expires) {
				if _, err := tx.Delete(ctx, KindJoinToken, r.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
		_, err = tx.Create(ctx, KindJoinToken, tokenKey(tok.Reveal()), encode(rec))
		return err
	})
	if err != nil {
		return "", joinToken{}, err
	}
	return tok, rec, nil
}

// pendingToken returns the unexpired token record of key, or
// errTokenRefused.
func pendingToken(ctx context.Context, r store.Reader, key string, now time.Time) (joinToken, store.Record, error) {
	rec, err := r.Get(ctx, KindJoinToken, key)
	if errors.Is(err, store.ErrNotFound) {
		return joinToken{}, rec, errTokenRefused
	}
	if err != nil {
		return joinToken{}, rec, err
	}
	var t joinToken
	if decode(rec, &t) != nil || !now.Before(t.Expires) || CheckName(t.Name) != nil {
		return joinToken{}, rec, errTokenRefused
	}
	return t, rec, nil
}
