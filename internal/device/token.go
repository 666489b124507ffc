package device

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/store"
)

// Enrollment tokens are "ztdev_" and 43 characters of base64url: 256
// random bits. The prefix lets secret scanners find a leaked one.
const (
	tokenPrefix    = "ztdev_"
	tokenRandBytes = 32
	tokenLen       = len(tokenPrefix) + (tokenRandBytes*8+5)/6
	tokenIDPrefix  = "tok-"
	tokenIDHex     = 16 // hex characters of the hash in a token's public id
)

// Limits on what a token says of its device.
const (
	maxNameLen  = 128
	maxGroups   = 32
	maxGroupLen = 64
	maxARNLen   = 2048
)

// Token is an enrollment token: a secret, shown once. It prints, logs and
// marshals as "[REDACTED]"; Reveal returns it. The blank func field makes
// it incomparable, so nobody compares tokens with ==.
type Token struct {
	_ [0]func()
	s string
}

const redacted = "[REDACTED]"

var (
	_ fmt.Formatter  = Token{}
	_ slog.LogValuer = Token{}
)

// Reveal returns the token itself, to show to the administrator once.
func (t Token) Reveal() string { return t.s }

// String returns "[REDACTED]".
func (Token) String() string { return redacted }

// GoString returns "[REDACTED]".
func (Token) GoString() string { return redacted }

// Format prints "[REDACTED]" whatever the verb.
func (Token) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue makes log/slog print "[REDACTED]".
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText makes encoders write "[REDACTED]".
func (Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// hashToken is a token's record key: the lowercase hex of its SHA-256.
// The token has 256 random bits, so a plain hash is as good as a slow one.
func hashToken(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// tokenIDOf is a token's public id, from its hash: it names the token in
// listings and records, and reveals nothing of it.
func tokenIDOf(hash string) string { return tokenIDPrefix + hash[:tokenIDHex] }

// wellFormedToken reports whether s has the form of a token.
func wellFormedToken(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, tokenPrefix) {
		return false
	}
	_, err := b64url.DecodeString(s[len(tokenPrefix):])
	return err == nil
}

// TokenRequest is what an administrator says of the device a token
// enrolls.
type TokenRequest struct {
	Name    string   // the device's name: 1 to 128 bytes of printable text
	Owner   string   // the ARN of the user the device belongs to, or ""
	Managed bool     // whether the organisation manages the device
	Groups  []string // up to 32 names of letters, digits, '.', '_' and '-'
	// TTL is how long the token can be used: the configured default
	// when zero, at most MaxTokenTTL.
	TTL time.Duration
	// CreatedBy names the administrator, for the records.
	CreatedBy string
}

// TokenInfo describes a token, without the token.
type TokenInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner,omitempty"`
	Managed   bool      `json:"managed"`
	Groups    []string  `json:"groups"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	DeviceID  string    `json:"device_id,omitempty"`
	// Status is "pending", "used" or "expired".
	Status string `json:"status"`
}

func (t *tokenRecord) info(now time.Time) TokenInfo {
	i := TokenInfo{
		ID: t.ID, Name: t.Name, Owner: t.Owner, Managed: t.Managed, Groups: slices.Clone(t.Groups),
		CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, UsedAt: t.UsedAt, DeviceID: t.DeviceID,
		Status: "pending",
	}
	switch {
	case !t.UsedAt.IsZero():
		i.Status = "used"
	case !now.Before(t.ExpiresAt):
		i.Status = "expired"
	}
	if i.Groups == nil {
		i.Groups = []string{}
	}
	return i
}

// CreateToken makes an enrollment token for one device and records its
// hash. The token is returned once and kept nowhere. Errors wrap
// ErrInvalid or a store error.
func (r *Registry) CreateToken(ctx context.Context, req TokenRequest) (Token, TokenInfo, error) {
	groups, err := checkTokenRequest(req)
	if err != nil {
		return Token{}, TokenInfo{}, err
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = r.tokenTTL
	}
	if ttl < 0 || ttl > MaxTokenTTL {
		return Token{}, TokenInfo{}, fmt.Errorf("%w: token lifetime %s outside (0, %s]", ErrInvalid, ttl, MaxTokenTTL)
	}
	var b [tokenRandBytes]byte
	rand.Read(b[:]) // never fails since Go 1.24
	secret := tokenPrefix + b64url.EncodeToString(b[:])
	hash := hashToken(secret)
	now := r.clock().UTC()
	t := tokenRecord{
		ID: tokenIDOf(hash), Name: req.Name, Owner: req.Owner, Managed: req.Managed, Groups: groups,
		CreatedBy: req.CreatedBy, CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	v, err := json.Marshal(t)
	if err != nil {
		return Token{}, TokenInfo{}, err
	}
	if _, err := r.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Create(ctx, KindToken, hash, v)
		return err
	}); err != nil {
		return Token{}, TokenInfo{}, fmt.Errorf("device: record token %s: %w", t.ID, err)
	}
	r.log.Info("device: enrollment token created", "token_id", t.ID, "name", t.Name, "created_by", t.CreatedBy, "expires_at", t.ExpiresAt)
	return Token{s: secret}, t.info(now), nil
}

// checkTokenRequest applies the rules of TokenRequest and returns the
// groups sorted, without duplicates.
func checkTokenRequest(req TokenRequest) ([]string, error) {
	switch {
	case req.Name == "" || !printable(req.Name, maxNameLen):
		return nil, fmt.Errorf("%w: a device name is 1 to %d bytes of printable text", ErrInvalid, maxNameLen)
	case req.CreatedBy == "":
		return nil, fmt.Errorf("%w: no creator named", ErrInvalid)
	case len(req.Groups) > maxGroups:
		return nil, fmt.Errorf("%w: %d groups, at most %d", ErrInvalid, len(req.Groups), maxGroups)
	}
	if req.Owner != "" {
		p := authz.ParsePrincipal(req.Owner)
		if p.Kind != authz.User || p.Partition != "zt" || p.Account == "" || p.Name == "" || !printable(req.Owner, maxARNLen) {
			return nil, fmt.Errorf("%w: owner %s is not a user arn (arn:zt:iam::ACCOUNT:user/NAME)", ErrInvalid, quote(req.Owner))
		}
	}
	groups := make([]string, 0, len(req.Groups))
	for _, g := range req.Groups {
		if !validGroup(g) {
			return nil, fmt.Errorf("%w: group %s: 1 to %d letters, digits, '.', '_' or '-'", ErrInvalid, quote(g), maxGroupLen)
		}
		groups = append(groups, g)
	}
	slices.Sort(groups)
	return slices.Compact(groups), nil
}

// validGroup keeps group names free of the characters that mean
// something in policies ('*', '?', '$').
func validGroup(g string) bool {
	if g == "" || len(g) > maxGroupLen {
		return false
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Tokens lists the enrollment tokens on record, oldest first.
func (r *Registry) Tokens(ctx context.Context) ([]TokenInfo, error) {
	recs, err := r.st.List(ctx, KindToken, "")
	if err != nil {
		return nil, fmt.Errorf("device: list tokens: %w", err)
	}
	now := r.clock()
	out := make([]TokenInfo, 0, len(recs))
	for _, rec := range recs {
		var t tokenRecord
		if err := decode(rec, &t); err != nil {
			r.log.Error("device: unreadable token record ignored", "revision", rec.Revision, "err", err)
			continue
		}
		out = append(out, t.info(now))
	}
	slices.SortFunc(out, func(a, b TokenInfo) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// RevokeToken deletes the token with public id id, so that it enrolls
// nothing. Errors wrap ErrNotFound or a store error.
func (r *Registry) RevokeToken(ctx context.Context, id string) (TokenInfo, error) {
	if len(id) != len(tokenIDPrefix)+tokenIDHex || !strings.HasPrefix(id, tokenIDPrefix) {
		return TokenInfo{}, fmt.Errorf("%w: no token %s", ErrNotFound, quote(id))
	}
	prefix := id[len(tokenIDPrefix):]
	if _, err := hex.DecodeString(prefix); err != nil || strings.ToLower(prefix) != prefix {
		return TokenInfo{}, fmt.Errorf("%w: no token %s", ErrNotFound, quote(id))
	}
	var t tokenRecord
	_, err := r.st.Update(ctx, func(tx store.Tx) error {
		recs, err := tx.List(ctx, KindToken, prefix)
		if err != nil {
			return err
		}
		if len(recs) != 1 { // two tokens sharing 64 bits of hash: never in practice
			return fmt.Errorf("%w: no token %s", ErrNotFound, id)
		}
		if err := decode(recs[0], &t); err != nil {
			return err
		}
		_, err = tx.Delete(ctx, KindToken, recs[0].Key)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return TokenInfo{}, err
		}
		return TokenInfo{}, fmt.Errorf("device: revoke token %s: %w", id, err)
	}
	r.log.Info("device: enrollment token revoked", "token_id", id)
	return t.info(r.clock()), nil
}

// PruneTokens deletes the records of tokens used or expired before
// before, and returns how many. The devices keep the id of the token that
// enrolled them.
func (r *Registry) PruneTokens(ctx context.Context, before time.Time) (int, error) {
	recs, err := r.st.List(ctx, KindToken, "")
	if err != nil {
		return 0, fmt.Errorf("device: prune tokens: %w", err)
	}
	var gone []string
	for _, rec := range recs {
		var t tokenRecord
		if decode(rec, &t) != nil {
			continue
		}
		if (!t.UsedAt.IsZero() && t.UsedAt.Before(before)) || t.ExpiresAt.Before(before) {
			gone = append(gone, rec.Key)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	if _, err := r.st.Update(ctx, func(tx store.Tx) error {
		for _, key := range gone {
			if _, err := tx.Delete(ctx, KindToken, key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("device: prune tokens: %w", err)
	}
	return len(gone), nil
}
