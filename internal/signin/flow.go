package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ztgate/ztgate/internal/ratelimit"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/ztgate/ztgate/internal/store"
)

// A flow is a sign-in step in progress: the TOTP step after a password,
// a WebAuthn ceremony, a TOTP enrollment, an OIDC authorization request.
// It is a store record (kind KindFlow) so that any node can finish it,
// and the browser that began it holds its id in a sealed cookie, so that
// no other browser can. A flow is used once.
type flow struct {
	Kind    string    `json:"kind"`
	Host    string    `json:"host"`
	Return  string    `json:"return,omitempty"`
	Expires time.Time `json:"expires"`

	User     string `json:"user,omitempty"`
	UserID   string `json:"userId,omitempty"`
	Session  string `json:"session,omitempty"` // the session that began it
	Attempts int    `json:"attempts,omitempty"`

	WebAuthn *webauthn.SessionData `json:"webauthn,omitempty"`
	TOTP     []byte                `json:"totp,omitempty"` // sealed secret being enrolled

	IdP         string `json:"idp,omitempty"`
	State       string `json:"state,omitempty"`
	Nonce       string `json:"nonce,omitempty"`
	Verifier    string `json:"verifier,omitempty"` // PKCE
	RedirectURI string `json:"redirectUri,omitempty"`
}

const (
	flowTOTP            = "totp"
	flowPasskeyLogin    = "passkey-login"
	flowPasskeyRegister = "passkey-register"
	flowEnroll          = "totp-enroll"
	flowOIDC            = "oidc"

	flowTTL = 10 * time.Minute
	// maxFlowAttempts bounds the codes tried within one TOTP step.
	maxFlowAttempts = 5
)

var (
	errNoFlow       = errors.New("sign-in step not found or expired")
	errTooManyFlows = errors.New("too many sign-ins started")
)

// Sign-ins a client may start per minute: each is a store write.
const flowsPerMinute = 60

// startFlow stores f and gives the browser its cookie.
func (s *Service) startFlow(ctx context.Context, w http.ResponseWriter, r *http.Request, f *flow) error {
	ck := ratelimit.ClientKey(s.c.ClientIP(r))
	if s.flowStarts.Blocked(ck) {
		return errTooManyFlows
	}
	s.flowStarts.Add(ck)
	id := newID()
	f.Host = strings.ToLower(r.Host)
	f.Expires = s.now().UTC().Add(flowTTL)
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if _, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Create(ctx, KindFlow, id, b)
		return err
	}); err != nil {
		return fmt.Errorf("signin: store flow: %w", err)
	}
	cookie, err := sealCookie(s.c.KEK, purposeFlow, s.flowCookie, id, f.Expires)
	if err != nil {
		return err
	}
	s.setCookie(w, s.flowCookie, cookie, time.Time{})
	return nil
}

// loadFlow returns the request's flow of the given kind.
func (s *Service) loadFlow(r *http.Request, kind string) (string, *flow, int64, error) {
	c, err := r.Cookie(s.flowCookie)
	if err != nil {
		return "", nil, 0, errNoFlow
	}
	id, exp, err := openCookie(s.c.KEK, purposeFlow, s.flowCookie, c.Value)
	now := s.now()
	if err != nil || !now.Before(exp) {
		return "", nil, 0, errNoFlow
	}
	raw, err := s.c.Store.Get(r.Context(), KindFlow, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, 0, errNoFlow
	}
	if err != nil {
		return "", nil, 0, err
	}
	f := new(flow)
	if err := json.Unmarshal(raw.Value, f); err != nil || f.Kind != kind ||
		!strings.EqualFold(f.Host, r.Host) || !now.Before(f.Expires) {
		return "", nil, 0, errNoFlow
	}
	return id, f, raw.Revision, nil
}

// takeFlow is loadFlow that also deletes the flow, so that it is used
// once: of two requests racing with the same flow, one gets errNoFlow.
func (s *Service) takeFlow(w http.ResponseWriter, r *http.Request, kind string) (*flow, error) {
	id, f, rev, err := s.loadFlow(r, kind)
	if err != nil {
		return nil, err
	}
	if err := s.endFlow(r.Context(), id, rev); err != nil {
		return nil, err
	}
	s.clearCookie(w, s.flowCookie)
	return f, nil
}

// endFlow deletes a flow if it is still at revision rev.
func (s *Service) endFlow(ctx context.Context, id string, rev int64) error {
	_, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Get(ctx, KindFlow, id)
		if err != nil {
			return err
		}
		if cur.Revision != rev {
			return store.ErrConflict
		}
		_, err = tx.Delete(ctx, KindFlow, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return errNoFlow
	}
	return err
}

// countAttempt records one more failed attempt in a flow and reports
// whether another one is allowed; the flow ends after maxFlowAttempts.
func (s *Service) countAttempt(ctx context.Context, id string, f *flow, rev int64) bool {
	f.Attempts++
	if f.Attempts >= maxFlowAttempts {
		s.endFlow(ctx, id, rev)
		return false
	}
	_, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
		return replaceJSON(ctx, tx, KindFlow, id, f, rev)
	})
	return err == nil
}
