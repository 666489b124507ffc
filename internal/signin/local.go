package signin

import (
	"bytes"
	"encoding/base64"
	"errors"
	"github.com/ztgate/ztgate/internal/ratelimit"
	"html/template"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/secret"
)

// recentAuth is how recently a person must have signed in to change their
// sign-in credentials.
const recentAuth = 15 * time.Minute

// Messages a person sees. A wrong password and an unknown user read the
// same.
const (
	msgBadPassword = "Incorrect user name or password."
	msgThrottled   = "Too many failed sign-ins. Try again later."
	msgBadForm     = "The sign-in form expired. Try again."
	msgBadCode     = "Incorrect code. Try the current one."
	msgStepExpired = "Your sign-in expired. Sign in again."
)

type totpPage struct {
	Title, Error, CSRF string
}

func (s *Service) loginFailed(w http.ResponseWriter, r *http.Request, status int, rd, user, msg string) {
	d := s.loginData(w, r, rd)
	d.Error, d.User = msg, user
	s.render(w, status, "login", d)
}

// lookupUser finds a local user for a sign-in: nil when the name names
// none, so that the caller treats it as a wrong password.
func (s *Service) lookupUser(r *http.Request, name string) (*localUser, error) {
	lu, err := s.loadUser(r.Context(), name)
	if errors.Is(err, iam.ErrNoSuchEntity) || errors.Is(err, iam.ErrInvalidInput) {
		return nil, nil
	}
	return lu, err
}

func (s *Service) passwordLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	rd := s.safeReturn(r, r.PostFormValue("rd"))
	name := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	if !s.checkLoginCSRF(r) {
		s.loginFailed(w, r, http.StatusForbidden, rd, name, msgBadForm)
		return
	}
	lu, err := s.lookupUser(r, name)
	if err != nil {
		s.internalError(w, r, "reading a user failed", err)
		return
	}
	id := audit.UserIdentity{Type: "IAMUser", UserName: hiddenUser}
	if lu != nil {
		id = s.userIdentity(lu, false, false)
	}
	uk, ck := ratelimit.UserKey(name), ratelimit.ClientKey(s.c.ClientIP(r))
	if s.users.Blocked(uk) || s.clients.Blocked(ck) {
		s.auditFailure(ctx, r, id, "password", "TooManyAttempts", "Too many failed sign-ins", nil)
		s.loginFailed(w, r, http.StatusTooManyRequests, rd, name, msgThrottled)
		return
	}
	hash := ""
	if lu != nil && lu.cred != nil {
		hash = lu.cred.Password
	}
	if !s.checkPassword(hash, password) {
		s.users.Add(uk)
		s.clients.Add(ck)
		s.auditFailure(ctx, r, id, "password", "FailedAuthentication", "Failed authentication", nil)
		s.loginFailed(w, r, http.StatusUnauthorized, rd, name, msgBadPassword)
		return
	}
	if len(lu.cred.TOTP) > 0 {
		f := &flow{Kind: flowTOTP, User: lu.iam.Name, UserID: lu.iam.ID, Return: rd}
		if err := s.startFlow(ctx, w, r, f); err != nil {
			s.flowError(w, r, "starting the TOTP step failed", err)
			return
		}
		s.render(w, http.StatusOK, "totp", totpPage{Title: "Enter your code", CSRF: s.loginCSRF(w, r)})
		return
	}
	s.localSession(w, r, lu, rd, []string{MethodPassword}, false, "password")
}

func (s *Service) totpLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	fid, f, rev, err := s.loadFlow(r, flowTOTP)
	if err != nil {
		if !errors.Is(err, errNoFlow) {
			s.internalError(w, r, "reading a sign-in step failed", err)
			return
		}
		s.loginFailed(w, r, http.StatusUnauthorized, "/", "", msgStepExpired)
		return
	}
	if !s.checkLoginCSRF(r) {
		s.loginFailed(w, r, http.StatusForbidden, f.Return, f.User, msgBadForm)
		return
	}
	uk, ck := ratelimit.UserKey(f.User), ratelimit.ClientKey(s.c.ClientIP(r))
	if s.users.Blocked(uk) || s.clients.Blocked(ck) {
		s.endFlow(ctx, fid, rev)
		s.auditFailure(ctx, r, audit.UserIdentity{Type: "IAMUser", UserName: f.User}, "password",
			"TooManyAttempts", "Too many failed sign-ins", nil)
		s.loginFailed(w, r, http.StatusTooManyRequests, f.Return, f.User, msgThrottled)
		return
	}
	lu, err := s.lookupUser(r, f.User)
	if err != nil {
		s.internalError(w, r, "reading a user failed", err)
		return
	}
	if lu == nil || lu.iam.ID != f.UserID {
		s.endFlow(ctx, fid, rev)
		s.loginFailed(w, r, http.StatusUnauthorized, f.Return, "", msgStepExpired)
		return
	}
	ok, err := s.useTOTP(ctx, lu.iam, strings.TrimSpace(r.PostFormValue("code")))
	if err != nil {
		s.internalError(w, r, "checking a TOTP code failed", err)
		return
	}
	if !ok {
		s.users.Add(uk)
		s.clients.Add(ck)
		s.auditFailure(ctx, r, s.userIdentity(lu, false, false), "totp", "InvalidMFACode", "Failed MFA authentication", nil)
		if s.countAttempt(ctx, fid, f, rev) {
			s.render(w, http.StatusUnauthorized, "totp", totpPage{Title: "Enter your code", Error: msgBadCode, CSRF: s.loginCSRF(w, r)})
			return
		}
		s.loginFailed(w, r, http.StatusUnauthorized, f.Return, f.User, msgStepExpired)
		return
	}
	if err := s.endFlow(ctx, fid, rev); err != nil {
		// Used by a concurrent request: only one of them signs in.
		s.loginFailed(w, r, http.StatusUnauthorized, f.Return, f.User, msgStepExpired)
		return
	}
	s.localSession(w, r, lu, f.Return, []string{MethodPassword, MethodOTP}, true, "password")
}

// localSession issues a local user's session and sends the browser on.
func (s *Service) localSession(w http.ResponseWriter, r *http.Request, lu *localUser, rd string, methods []string, mfa bool, method string) {
	if _, err := s.issueLocal(w, r, lu, methods, mfa, method); err != nil {
		s.internalError(w, r, "issuing a session failed", err)
		return
	}
	http.Redirect(w, r, rd, http.StatusSeeOther)
}

func (s *Service) issueLocal(w http.ResponseWriter, r *http.Request, lu *localUser, methods []string, mfa bool, method string) (string, error) {
	rec := &sessionRecord{
		Principal: lu.iam.ARN(),
		UserID:    lu.iam.ID,
		User:      lu.iam.Name,
		Name:      lu.iam.Name,
		Groups:    lu.iam.Groups,
		Methods:   methods,
		MFA:       mfa,
	}
	for _, t := range lu.iam.Tags {
		switch strings.ToLower(t.Key) {
		case "email":
			rec.Email = t.Value
		case "name", "displayname":
			rec.Name = t.Value
		}
	}
	id, err := s.issue(w, r, rec, loginInfo{Identity: s.userIdentity(lu, true, mfa), Method: method})
	if err == nil {
		s.users.Reset(ratelimit.UserKey(lu.iam.Name))
	}
	return id, err
}

type logoutPage struct {
	Title string
	S     *Session
	CSRF  string
}

func (s *Service) logoutPage(w http.ResponseWriter, r *http.Request) {
	id, rec, err := s.current(r)
	if err != nil {
		s.signedOut(w, r)
		return
	}
	s.render(w, http.StatusOK, "logout", logoutPage{Title: "Sign out", S: rec.session(id), CSRF: rec.CSRF})
}

func (s *Service) signedOut(w http.ResponseWriter, r *http.Request) {
	s.clearCookie(w, s.cookieName)
	s.render(w, http.StatusOK, "message", messagePage{Title: "Signed out", Text: "You are signed out.", Link: PathPrefix + "login", LinkText: "Sign in again"})
}

// logout ends the browser's session; for people of an IdP it then sends
// the browser to the IdP's end_session_endpoint.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, rec, err := s.current(r)
	if err != nil {
		s.signedOut(w, r)
		return
	}
	if !s.sameOrigin(r) || !checkCSRF(rec, r.PostFormValue("csrf")) {
		s.message(w, r, http.StatusForbidden, "Not signed out", "The sign-out form expired. Go back, reload the page and try again.")
		return
	}
	actor := s.actor(r, s.sessionIdentity(rec), "session")
	if err := s.revoke(ctx, id, revocation{Name: "ConsoleLogout", Reason: "signed out", By: &actor}); err != nil && !errors.Is(err, ErrNoSession) {
		s.internalError(w, r, "ending a session failed", err)
		return
	}
	s.clearCookie(w, s.cookieName)
	if p := s.idps[rec.IdP]; p != nil {
		if u := p.endSessionURL(ctx, id, rec); u != "" {
			http.Redirect(w, r, u, http.StatusSeeOther)
			return
		}
	}
	s.signedOut(w, r)
}

// sessionIdentity is the audit identity of a session's person.
func (s *Service) sessionIdentity(rec *sessionRecord) audit.UserIdentity {
	typ := "IAMUser"
	if rec.IdP != "" {
		typ = "AssumedRole"
	}
	return audit.UserIdentity{Type: typ, PrincipalID: rec.UserID, ARN: rec.Principal, AccountID: s.account, UserName: rec.User}
}

// requireLocal returns the browser's session if it is a local user's and
// recent enough to change credentials; otherwise it answers.
func (s *Service) requireLocal(w http.ResponseWriter, r *http.Request, asJSON bool) (string, *sessionRecord, bool) {
	id, rec, err := s.current(r)
	fail := func(status int, msg string) {
		if asJSON {
			jsonError(w, status, msg)
			return
		}
		s.render(w, status, "message", messagePage{Title: "Sign in again", Text: msg,
			Link: PathPrefix + "login?rd=" + r.URL.Path, LinkText: "Sign in"})
	}
	switch {
	case err != nil:
		fail(http.StatusUnauthorized, "You are not signed in.")
	case rec.IdP != "" || rec.User == "":
		fail(http.StatusForbidden, "Your sign-in is managed by your identity provider.")
	case s.now().Sub(rec.AuthTime) > recentAuth:
		fail(http.StatusForbidden, "To change how you sign in, sign in again first.")
	default:
		return id, rec, true
	}
	return "", nil, false
}

type enrollPage struct {
	Title, Error, CSRF string
	Secret, URL        string
	QR                 template.URL
}

func (s *Service) enrollPage(w http.ResponseWriter, r *http.Request) {
	id, rec, ok := s.requireLocal(w, r, false)
	if !ok {
		return
	}
	lu, err := s.loadUser(r.Context(), rec.User)
	if err != nil {
		s.internalError(w, r, "reading a user failed", err)
		return
	}
	key, err := newTOTPKey(lu.iam.Name)
	if err != nil {
		s.internalError(w, r, "making a TOTP secret failed", err)
		return
	}
	sealed, err := secret.Seal(s.c.KEK, []byte(key.URL()), enrollAAD(id))
	if err != nil {
		s.internalError(w, r, "sealing a TOTP secret failed", err)
		return
	}
	f := &flow{Kind: flowEnroll, User: lu.iam.Name, UserID: lu.iam.ID, Session: id, TOTP: sealed}
	if err := s.startFlow(r.Context(), w, r, f); err != nil {
		s.flowError(w, r, "starting enrollment failed", err)
		return
	}
	s.renderEnroll(w, http.StatusOK, key, rec.CSRF, "")
}

func enrollAAD(session string) []byte {
	return []byte("ztgate signin totp enrollment v1\x00" + session)
}

func (s *Service) renderEnroll(w http.ResponseWriter, status int, key *otp.Key, csrf, msg string) {
	d := enrollPage{Title: "Set up an authenticator app", Error: msg, CSRF: csrf, Secret: key.Secret(), URL: key.URL()}
	if img, err := key.Image(200, 200); err == nil {
		var buf bytes.Buffer
		if png.Encode(&buf, img) == nil {
			d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))
		}
	}
	s.render(w, status, "enroll", d)
}

func (s *Service) enrollConfirm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, rec, ok := s.requireLocal(w, r, false)
	if !ok {
		return
	}
	if !s.sameOrigin(r) || !checkCSRF(rec, r.PostFormValue("csrf")) {
		s.message(w, r, http.StatusForbidden, "Not changed", "The form expired. Start again.")
		return
	}
	fid, f, rev, err := s.loadFlow(r, flowEnroll)
	if err != nil || f.Session != id {
		s.message(w, r, http.StatusBadRequest, "Start again", "The enrollment expired. Start again.")
		return
	}
	raw, err := secret.Open(s.c.KEK, f.TOTP, enrollAAD(id))
	if err != nil {
		s.internalError(w, r, "opening a TOTP secret failed", err)
		return
	}
	key, err := otp.NewKeyFromURL(string(raw))
	if err != nil {
		s.internalError(w, r, "reading a TOTP secret failed", err)
		return
	}
	step, match := totpStep(key.Secret(), strings.TrimSpace(r.PostFormValue("code")), s.now(), 0)
	if !match {
		if s.countAttempt(ctx, fid, f, rev) {
			s.renderEnroll(w, http.StatusUnprocessableEntity, key, rec.CSRF, msgBadCode)
			return
		}
		s.message(w, r, http.StatusBadRequest, "Start again", "Too many incorrect codes. Start again.")
		return
	}
	if err := s.endFlow(ctx, fid, rev); err != nil {
		s.message(w, r, http.StatusBadRequest, "Start again", "The enrollment expired. Start again.")
		return
	}
	lu, err := s.loadUser(ctx, f.User)
	if err != nil || lu.iam.ID != f.UserID {
		s.message(w, r, http.StatusBadRequest, "Start again", "The enrollment expired. Start again.")
		return
	}
	if err := s.auditCredentialChange(r, lu, "EnableMFADevice", map[string]any{"userName": lu.iam.Name, "mfa": "totp"}); err != nil {
		s.internalError(w, r, "auditing a TOTP enrollment failed", err)
		return
	}
	err = s.updateCredential(ctx, lu.iam, func(c *credential) error {
		sealed, err := secret.Seal(s.c.KEK, []byte(key.Secret()), totpAAD(c))
		if err != nil {
			return err
		}
		c.TOTP, c.TOTPStep = sealed, step
		return nil
	})
	if err != nil {
		s.internalError(w, r, "storing a TOTP secret failed", err)
		return
	}
	http.Redirect(w, r, PathPrefix+"?m=totp", http.StatusSeeOther)
}

// auditCredentialChange records a person changing their own credentials,
// before the change is made: a change that cannot be audited is not made.
func (s *Service) auditCredentialChange(r *http.Request, lu *localUser, name string, params map[string]any) error {
	ev := audit.AdminEvent{
		Actor:      s.actor(r, s.userIdentity(lu, false, false), "session"),
		Source:     audit.SourceSignIn,
		Name:       name,
		Resources:  []audit.Resource{{ARN: lu.iam.ARN(), AccountID: lu.iam.Account, Type: "AWS::IAM::User"}},
		Parameters: params,
	}
	return s.c.Audit.Record(r.Context(), ev.Record())
}
