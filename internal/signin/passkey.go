package signin

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"github.com/ztgate/ztgate/internal/ratelimit"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/ztgate/ztgate/internal/audit"
)

// maxPasskeys bounds the passkeys of one user.
const maxPasskeys = 10

// ceremonyTimeout is how long the browser and the server wait for the
// authenticator.
const ceremonyTimeout = 2 * time.Minute

var errNoPasskeys = errors.New("passkeys need a host name, not an address")

// webAuthn is the relying party for the request's host: RP ID the host's
// registrable name, and the one origin the browser is on.
func (s *Service) webAuthn(r *http.Request) (*webauthn.WebAuthn, error) {
	id, ok := rpID(hostname(r.Host))
	if !ok {
		return nil, errNoPasskeys
	}
	t := webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout}
	return webauthn.New(&webauthn.Config{
		RPID:          id,
		RPDisplayName: "ztgate",
		RPOrigins:     []string{s.origin(r)},
		Timeouts:      webauthn.TimeoutsConfig{Login: t, Registration: t},
	})
}

func (s *Service) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	if !s.scriptRequest(w, r) {
		return
	}
	if s.clients.Blocked(ratelimit.ClientKey(s.c.ClientIP(r))) {
		jsonError(w, http.StatusTooManyRequests, msgThrottled)
		return
	}
	wa, err := s.webAuthn(r)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "Passkeys are not available on this address.")
		return
	}
	assertion, sd, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		s.log.Error("signin: beginning a passkey sign-in failed", "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	f := &flow{Kind: flowPasskeyLogin, Return: s.safeReturn(r, r.URL.Query().Get("rd")), WebAuthn: sd}
	if err := s.startFlow(r.Context(), w, r, f); err != nil {
		if errors.Is(err, errTooManyFlows) {
			jsonError(w, http.StatusTooManyRequests, msgThrottled)
			return
		}
		s.log.Error("signin: storing a passkey sign-in failed", "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, assertion)
}

func (s *Service) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.scriptRequest(w, r) {
		return
	}
	ck := ratelimit.ClientKey(s.c.ClientIP(r))
	if s.clients.Blocked(ck) {
		jsonError(w, http.StatusTooManyRequests, msgThrottled)
		return
	}
	f, err := s.takeFlow(w, r, flowPasskeyLogin)
	if err != nil || f.WebAuthn == nil {
		jsonError(w, http.StatusBadRequest, msgStepExpired)
		return
	}
	wa, err := s.webAuthn(r)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "Passkeys are not available on this address.")
		return
	}
	var found *localUser
	byHandle := func(_, handle []byte) (webauthn.User, error) {
		raw, err := s.c.Store.Get(ctx, KindIndex, handleIndex(handle))
		if err != nil {
			return nil, fmt.Errorf("unknown user handle: %w", err)
		}
		lu, err := s.loadUser(ctx, string(raw.Value))
		if err != nil {
			return nil, err
		}
		if lu.cred == nil || subtle.ConstantTimeCompare(lu.cred.Handle, handle) != 1 {
			return nil, errors.New("unknown user handle")
		}
		found = lu
		return lu.webauthnUser(), nil
	}
	_, cred, err := wa.FinishPasskeyLogin(byHandle, *f.WebAuthn, r)
	if err == nil && cred.Authenticator.CloneWarning {
		err = errors.New("signature counter went back: the authenticator may be cloned")
	}
	if err != nil {
		s.clients.Add(ck)
		id := audit.UserIdentity{Type: "Unknown"}
		if found != nil {
			id = s.userIdentity(found, false, false)
			s.users.Add(ratelimit.UserKey(found.iam.Name))
		}
		detail := err.Error()
		var perr *protocol.Error
		if errors.As(err, &perr) {
			detail = perr.Details + ": " + perr.DevInfo
		}
		s.log.Info("signin: passkey refused", "err", detail)
		s.auditFailure(ctx, r, id, "passkey", "PasskeyRejected", "Failed authentication", nil)
		jsonError(w, http.StatusUnauthorized, "The passkey was not accepted.")
		return
	}
	now := s.now().UTC()
	err = s.updateCredential(ctx, found.iam, func(c *credential) error {
		for i := range c.Passkeys {
			if bytes.Equal(c.Passkeys[i].Credential.ID, cred.ID) {
				c.Passkeys[i].Credential.Authenticator.SignCount = cred.Authenticator.SignCount
				c.Passkeys[i].Credential.Flags = cred.Flags
				c.Passkeys[i].LastUsed = now
				return nil
			}
		}
		return errors.New("passkey removed meanwhile")
	})
	if err != nil {
		s.log.Error("signin: recording a passkey's use failed", "user", found.iam.Name, "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	// A passkey that verified its user is two factors: the device and
	// the PIN or biometric that unlocked it.
	if _, err := s.issueLocal(w, r, found, []string{MethodPasskey}, cred.Flags.UserVerified, "passkey"); err != nil {
		s.log.Error("signin: issuing a session failed", "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": f.Return})
}

// scriptCSRF checks the session token that the account page's script
// sends in a header.
func scriptCSRF(w http.ResponseWriter, r *http.Request, rec *sessionRecord) bool {
	if !checkCSRF(rec, r.Header.Get("X-ZTGate-CSRF")) {
		jsonError(w, http.StatusForbidden, "The page expired. Reload it and try again.")
		return false
	}
	return true
}

func (s *Service) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.scriptRequest(w, r) {
		return
	}
	id, rec, ok := s.requireLocal(w, r, true)
	if !ok || !scriptCSRF(w, r, rec) {
		return
	}
	wa, err := s.webAuthn(r)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "Passkeys are not available on this address.")
		return
	}
	lu, err := s.loadUser(ctx, rec.User)
	if err != nil || lu.iam.ID != rec.UserID {
		jsonError(w, http.StatusForbidden, "You are not signed in.")
		return
	}
	if lu.cred == nil || len(lu.cred.Handle) == 0 {
		if err := s.updateCredential(ctx, lu.iam, func(c *credential) error {
			if len(c.Handle) == 0 {
				c.Handle = newHandle()
			}
			return nil
		}); err != nil {
			s.log.Error("signin: storing a user handle failed", "err", err)
			jsonError(w, http.StatusInternalServerError, "internal error")
			return
		}
		if lu, err = s.loadUser(ctx, rec.User); err != nil || lu.cred == nil {
			jsonError(w, http.StatusInternalServerError, "internal error")
			return
		}
	}
	if len(lu.cred.Passkeys) >= maxPasskeys {
		jsonError(w, http.StatusConflict, fmt.Sprintf("You have %d passkeys, the most allowed.", maxPasskeys))
		return
	}
	user := lu.webauthnUser()
	required := true
	creation, sd, err := wa.BeginRegistration(user,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: &required,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(webauthn.Credentials(user.creds).CredentialDescriptors()),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		s.log.Error("signin: beginning a passkey registration failed", "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	f := &flow{Kind: flowPasskeyRegister, User: lu.iam.Name, UserID: lu.iam.ID, Session: id, WebAuthn: sd}
	if err := s.startFlow(ctx, w, r, f); err != nil {
		if errors.Is(err, errTooManyFlows) {
			jsonError(w, http.StatusTooManyRequests, msgThrottled)
			return
		}
		s.log.Error("signin: storing a passkey registration failed", "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, creation)
}

func (s *Service) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.scriptRequest(w, r) {
		return
	}
	id, rec, ok := s.requireLocal(w, r, true)
	if !ok || !scriptCSRF(w, r, rec) {
		return
	}
	f, err := s.takeFlow(w, r, flowPasskeyRegister)
	if err != nil || f.Session != id || f.WebAuthn == nil {
		jsonError(w, http.StatusBadRequest, "The registration expired. Try again.")
		return
	}
	wa, err := s.webAuthn(r)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "Passkeys are not available on this address.")
		return
	}
	lu, err := s.loadUser(ctx, f.User)
	if err != nil || lu.iam.ID != f.UserID || lu.cred == nil || !bytes.Equal(lu.cred.Handle, f.WebAuthn.UserID) {
		jsonError(w, http.StatusBadRequest, "The registration expired. Try again.")
		return
	}
	cred, err := wa.FinishRegistration(lu.webauthnUser(), *f.WebAuthn, r)
	if err != nil {
		detail := err.Error()
		var perr *protocol.Error
		if errors.As(err, &perr) {
			detail = perr.Details + ": " + perr.DevInfo
		}
		s.log.Info("signin: passkey registration refused", "user", lu.iam.Name, "err", detail)
		jsonError(w, http.StatusBadRequest, "The passkey could not be registered.")
		return
	}
	if err := s.auditCredentialChange(r, lu, "RegisterPasskey", map[string]any{
		"userName": lu.iam.Name, "rpId": f.WebAuthn.RelyingPartyID, "userVerified": cred.Flags.UserVerified,
	}); err != nil {
		s.log.Error("signin: auditing a passkey registration failed", "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	now := s.now().UTC()
	err = s.updateCredential(ctx, lu.iam, func(c *credential) error {
		if !bytes.Equal(c.Handle, f.WebAuthn.UserID) {
			return errors.New("user handle changed meanwhile")
		}
		if len(c.Passkeys) >= maxPasskeys {
			return errors.New("too many passkeys")
		}
		for _, p := range c.Passkeys {
			if bytes.Equal(p.Credential.ID, cred.ID) {
				return errors.New("passkey already registered")
			}
		}
		c.Passkeys = append(c.Passkeys, passkey{Credential: *cred, RPID: f.WebAuthn.RelyingPartyID, Created: now})
		return nil
	})
	if err != nil {
		s.log.Error("signin: storing a passkey failed", "user", lu.iam.Name, "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": PathPrefix + "?m=passkey"})
}
