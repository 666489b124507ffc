package signin

import (
	"context"
	"net/http"
	"slices"

	"github.com/ztgate/ztgate/internal/audit"
)

// loginInfo is what the audit record of a sign-in says beyond the session.
type loginInfo struct {
	Identity audit.UserIdentity
	Method   string // the audit record's AuthMethod: "password", "passkey", "oidc"
	Params   map[string]any
}

// hiddenUser stands for a user name that names no user, as CloudTrail
// writes it: what was typed may be a password typed in the wrong field.
const hiddenUser = "HIDDEN_DUE_TO_SECURITY_REASONS"

func (s *Service) actor(r *http.Request, id audit.UserIdentity, method string) audit.Actor {
	return audit.Actor{
		Identity:   id,
		SourceIP:   s.c.ClientIP(r),
		UserAgent:  r.UserAgent(),
		AuthMethod: method,
	}
}

// userIdentity is a local user's identity in audit records.
func (s *Service) userIdentity(lu *localUser, created bool, mfa bool) audit.UserIdentity {
	id := audit.UserIdentity{
		Type:        "IAMUser",
		PrincipalID: lu.iam.ID,
		ARN:         lu.iam.ARN(),
		AccountID:   lu.iam.Account,
		UserName:    lu.iam.Name,
	}
	if created {
		id.SessionContext = &audit.SessionContext{Attributes: audit.SessionAttribute{
			CreationDate: s.now().UTC(), MFAAuthenticated: mfa,
		}}
	}
	return id
}

// loginEvent is the record of a sign-in: CloudTrail's ConsoleLogin, with
// the session that it issued.
func (s *Service) loginEvent(r *http.Request, id string, rec *sessionRecord, login loginInfo) audit.IssuedEvent {
	mfa := "No"
	if rec.MFA {
		mfa = "Yes"
	}
	return audit.IssuedEvent{
		Actor:      s.actor(r, login.Identity, login.Method),
		Source:     audit.SourceSignIn,
		Name:       "ConsoleLogin",
		Resources:  []audit.Resource{{ARN: rec.Principal, AccountID: s.account, Type: "ztgate::SignIn::Session"}},
		Parameters: login.Params,
		Response: map[string]any{
			"ConsoleLogin": "Success",
			"MFAUsed":      mfa,
			"sessionId":    id,
			"methods":      slices.Clone(rec.Methods),
			"expiration":   rec.Expires,
		},
	}
}

// auditFailure records a failed sign-in. The attempt is refused whatever
// happens here; a record that cannot be written is logged.
func (s *Service) auditFailure(ctx context.Context, r *http.Request, id audit.UserIdentity, method, code, message string, params map[string]any) {
	ev := audit.AuthFailureEvent{
		Actor:      s.actor(r, id, method),
		Source:     audit.SourceSignIn,
		Name:       "ConsoleLogin",
		Code:       code,
		Message:    message,
		SignIn:     true,
		Parameters: params,
	}
	if err := s.c.Audit.Record(ctx, ev.Record()); err != nil {
		s.log.Error("signin: auditing a failed sign-in failed", "code", code, "err", err)
	}
}

// revocation says who ended sessions and why.
type revocation struct {
	Name   string       // "RevokeSession", "ConsoleLogout", "BackchannelLogout"
	Reason string       // in words
	By     *audit.Actor // nil when ztgate did it, on its own or through its API
}

func (s *Service) auditRevocation(ctx context.Context, id string, rec *sessionRecord, rv revocation) {
	ev := audit.RevocationEvent{
		Source:     audit.SourceSignIn,
		Name:       rv.Name,
		Resources:  []audit.Resource{{ARN: rec.Principal, AccountID: s.account, Type: "ztgate::SignIn::Session"}},
		Reason:     rv.Reason,
		ByService:  rv.By == nil,
		Parameters: map[string]any{"sessionId": id, "principal": rec.Principal},
	}
	if rv.By != nil {
		ev.Actor = *rv.By
	}
	if rec.IdP != "" {
		ev.Parameters["idp"] = rec.IdP
	}
	if err := s.c.Audit.Record(ctx, ev.Record()); err != nil {
		// The session is revoked already: refusing is the safe side, and
		// the revocation cannot be undone for want of a record.
		s.log.Error("signin: auditing a revocation failed", "session", id, "err", err)
	}
}
