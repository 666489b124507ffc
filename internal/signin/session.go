package signin

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// sessionRecord is a session as stored (kind KindSession, key its id).
type sessionRecord struct {
	Principal string    `json:"principal"`
	UserID    string    `json:"userId"`
	RoleID    string    `json:"roleId,omitempty"` // the role's unique id, for a session of an IdP's role
	User      string    `json:"user,omitempty"`   // the local IAM user's name
	Name      string    `json:"name,omitempty"`
	Email     string    `json:"email,omitempty"`
	Groups    []string  `json:"groups,omitempty"`
	Methods   []string  `json:"methods"`
	AuthTime  time.Time `json:"authTime"`
	MFA       bool      `json:"mfa"`
	IdP       string    `json:"idp,omitempty"`
	Subject   string    `json:"sub,omitempty"` // the IdP's subject
	SID       string    `json:"sid,omitempty"` // the IdP's session id
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"lastSeen"`
	Expires   time.Time `json:"expires"` // absolute
	SourceIP  string    `json:"sourceIp,omitempty"`

	// CSRF is the secret that the session's forms echo; it never leaves
	// the store but in its own pages.
	CSRF string `json:"csrf"`

	Revoked      bool      `json:"revoked,omitempty"`
	RevokedAt    time.Time `json:"revokedAt,omitzero"`
	RevokeReason string    `json:"revokeReason,omitempty"`

	// OIDC tokens (refresh and ID token), sealed under the KEK with the
	// session id as associated data; TokenExpiry is when the ID token
	// expires and RefreshLease when another refresh may begin.
	Tokens       []byte    `json:"tokens,omitempty"`
	TokenExpiry  time.Time `json:"tokenExpiry,omitzero"`
	RefreshLease time.Time `json:"refreshLease,omitzero"`
}

type cached struct {
	rec *sessionRecord // shared: never modified
	rev int64
}

func (r *sessionRecord) session(id string) *Session {
	return &Session{
		ID:        id,
		Principal: r.Principal,
		UserID:    r.UserID,
		RoleID:    r.RoleID,
		Name:      r.Name,
		Email:     r.Email,
		Groups:    slices.Clone(r.Groups),
		Methods:   slices.Clone(r.Methods),
		AuthTime:  r.AuthTime,
		MFA:       r.MFA,
		IdP:       r.IdP,
		Expires:   r.Expires,
	}
}

// idleEnd is when the session ends if it is not used again.
func (s *Service) idleEnd(r *sessionRecord) time.Time { return r.LastSeen.Add(s.c.IdleTimeout) }

// touchEvery is how stale LastSeen may get before a request writes it:
// a tenth of the idle timeout, at most five minutes. The idle limit is
// measured from the last write, so a session may end up to that much
// early, never late.
func (s *Service) touchEvery() time.Duration {
	return min(s.c.IdleTimeout/10, 5*time.Minute)
}

// cookieID returns the session id that the request's cookie seals, if
// it opens, whatever the state of the session.
func (s *Service) cookieID(r *http.Request) (string, bool) {
	c, err := r.Cookie(s.cookieName)
	if err != nil {
		return "", false
	}
	id, _, err := openCookie(s.c.KEK, purposeSession, s.cookieName, c.Value)
	return id, err == nil
}

// Authenticate returns the session of the request's cookie. It returns an
// error wrapping ErrNoSession when there is no valid cookie, ErrRevoked or
// ErrExpired for a session that ended, or another error when the store
// fails (the request must then be refused).
func (s *Service) Authenticate(r *http.Request) (*Session, error) {
	id, rec, err := s.current(r)
	if err != nil {
		return nil, err
	}
	if h := s.c.Holds; h != nil {
		holder := rec.UserID
		if rec.IdP != "" {
			holder = rec.RoleID // an IdP's people act as its role
		}
		if holder != "" && !h(rec.Principal, holder) {
			return nil, fmt.Errorf("%w: the session's %s no longer exists as it was", ErrRevoked, rec.Principal)
		}
	}
	return rec.session(id), nil
}

// current is Authenticate returning the record.
func (s *Service) current(r *http.Request) (string, *sessionRecord, error) {
	c, err := r.Cookie(s.cookieName)
	if err != nil || c.Value == "" {
		return "", nil, ErrNoSession
	}
	id, exp, err := openCookie(s.c.KEK, purposeSession, s.cookieName, c.Value)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrNoSession, err)
	}
	now := s.now()
	if !now.Before(exp) {
		return "", nil, ErrExpired
	}
	ctx := r.Context()
	rec, rev, err := s.lookup(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Sessions are deleted only once they have ended; a revoked one
		// is kept until its absolute expiry. So this one expired idle.
		return "", nil, fmt.Errorf("%w: session no longer exists", ErrExpired)
	}
	if err != nil {
		return "", nil, err
	}
	if err := s.usable(rec, now); err != nil {
		return "", nil, err
	}
	if rec.IdP != "" && s.idps[rec.IdP] == nil {
		// The provider was removed from the configuration, perhaps
		// because it cannot be trusted: its sessions end with it.
		return "", nil, fmt.Errorf("%w: identity provider %q is no longer configured", ErrRevoked, rec.IdP)
	}
	if rec.IdP != "" && len(rec.Tokens) > 0 && !rec.TokenExpiry.IsZero() && !now.Before(rec.TokenExpiry.Add(-refreshMargin)) {
		if rec, rev, err = s.refresh(ctx, id, rec, rev); err != nil {
			return "", nil, err
		}
	}
	if now.Sub(rec.LastSeen) >= s.touchEvery() {
		s.touch(ctx, id, rev, now)
	}
	return id, rec, nil
}

// usable checks that a session has not ended at now.
func (s *Service) usable(rec *sessionRecord, now time.Time) error {
	switch {
	case rec.Revoked:
		return ErrRevoked
	case !now.Before(rec.Expires):
		return ErrExpired
	case !now.Before(s.idleEnd(rec)):
		return fmt.Errorf("%w: idle for %s", ErrExpired, now.Sub(rec.LastSeen).Round(time.Second))
	}
	return nil
}

// lookup returns a session record through the cache. A record read from
// the store is cached only when no change that the feed applied while it
// was read can be newer than it.
func (s *Service) lookup(ctx context.Context, id string) (*sessionRecord, int64, error) {
	s.mu.Lock()
	if s.following {
		if e, ok := s.cache[id]; ok {
			s.mu.Unlock()
			return e.rec, e.rev, nil
		}
	}
	pos0 := s.pos
	s.mu.Unlock()

	rec, rev, err := s.read(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	if s.following && (s.pos == pos0 || rev >= s.pos) {
		if len(s.cache) >= maxCache {
			for k := range s.cache {
				delete(s.cache, k)
				break
			}
		}
		s.cache[id] = cached{rec: rec, rev: rev}
	}
	s.mu.Unlock()
	return rec, rev, nil
}

func (s *Service) read(ctx context.Context, id string) (*sessionRecord, int64, error) {
	return readSession(ctx, s.c.Store, id)
}

func readSession(ctx context.Context, r store.Reader, id string) (*sessionRecord, int64, error) {
	raw, err := r.Get(ctx, KindSession, id)
	if err != nil {
		return nil, 0, err
	}
	rec := new(sessionRecord)
	if err := json.Unmarshal(raw.Value, rec); err != nil {
		// An unreadable session is refused, never guessed at.
		return nil, 0, fmt.Errorf("%w: session record %s is unreadable", ErrRevoked, id)
	}
	return rec, raw.Revision, nil
}

// forget drops a session from this node's cache.
func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
}

// touch records that the session was used at now. It writes only over the
// revision that was read, so it never undoes a concurrent revocation; a
// conflict means someone else wrote, which is as good.
func (s *Service) touch(ctx context.Context, id string, rev int64, now time.Time) {
	_, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
		rec, cur, err := readSession(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur != rev || rec.Revoked {
			return nil
		}
		rec.LastSeen = now.UTC()
		return replaceJSON(ctx, tx, KindSession, id, rec, cur)
	})
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("signin: recording session use failed", "session", id, "err", err)
	}
	s.forget(id)
}

func replaceJSON(ctx context.Context, tx store.Tx, kind, key string, v any, rev int64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tx.Replace(ctx, kind, key, b, rev)
	return err
}

func putJSON(ctx context.Context, tx store.Tx, kind, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, kind, key, b)
	return err
}

// Index keys. '|' appears in no ARN; IdP-given values are base64url.
func principalIndex(principal, id string) string { return "p|" + principal + "|" + id }
func sidPrefix(idp, sid string) string {
	return "s|" + idp + "|" + base64.RawURLEncoding.EncodeToString([]byte(sid)) + "|"
}
func subPrefix(idp, sub string) string {
	return "u|" + idp + "|" + base64.RawURLEncoding.EncodeToString([]byte(sub)) + "|"
}

func (r *sessionRecord) indexKeys(id string) []string {
	keys := []string{principalIndex(r.Principal, id)}
	if r.IdP != "" {
		if r.SID != "" {
			keys = append(keys, sidPrefix(r.IdP, r.SID)+id)
		}
		if r.Subject != "" {
			keys = append(keys, subPrefix(r.IdP, r.Subject)+id)
		}
	}
	return keys
}

// indexed returns the session ids of the index records under prefix.
func (s *Service) indexed(ctx context.Context, prefix string) ([]string, error) {
	recs, err := s.c.Store.List(ctx, KindIndex, prefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		if id := r.Key[strings.LastIndexByte(r.Key, '|')+1:]; validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// issue stores a new session, audits it and sets its cookie. The audit
// record is written first: a session that cannot be audited is not
// issued.
func (s *Service) issue(w http.ResponseWriter, r *http.Request, rec *sessionRecord, login loginInfo) (string, error) {
	return s.issueWithID(w, r, newID(), rec, login)
}

// issueWithID is issue with the session's id chosen by the caller, who
// sealed something to it.
func (s *Service) issueWithID(w http.ResponseWriter, r *http.Request, id string, rec *sessionRecord, login loginInfo) (string, error) {
	ctx := r.Context()
	now := s.now().UTC()
	rec.Created, rec.LastSeen = now, now
	if rec.AuthTime.IsZero() {
		rec.AuthTime = now
	}
	rec.Expires = now.Add(s.c.MaxLifetime)
	rec.CSRF = newSecret()
	rec.SourceIP = s.c.ClientIP(r)
	cookie, err := sealCookie(s.c.KEK, purposeSession, s.cookieName, id, rec.Expires)
	if err != nil {
		return "", err
	}
	if err := s.c.Audit.Record(ctx, s.loginEvent(r, id, rec, login).Record()); err != nil {
		return "", fmt.Errorf("signin: audit: %w", err)
	}
	_, err = s.c.Store.Update(ctx, func(tx store.Tx) error {
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if _, err := tx.Create(ctx, KindSession, id, b); err != nil {
			return err
		}
		for _, k := range rec.indexKeys(id) {
			if _, err := tx.Put(ctx, KindIndex, k, []byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("signin: store session: %w", err)
	}
	// The session this browser held before, if any, ends: one browser,
	// one session, and no session fixation.
	if old, ok := s.cookieID(r); ok && old != id {
		if err := s.revoke(ctx, old, revocation{Name: "RevokeSession", Reason: "replaced by a new sign-in"}); err != nil && !errors.Is(err, ErrNoSession) {
			s.log.Warn("signin: ending the replaced session failed", "session", old, "err", err)
		}
	}
	s.setCookie(w, s.cookieName, cookie, rec.Expires)
	s.clearCookie(w, s.flowCookie)
	s.log.Info("signin: session issued", "session", id, "principal", rec.Principal, "methods", rec.Methods, "mfa", rec.MFA)
	return id, nil
}

// Revoke ends one session, on every node.
func (s *Service) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: %q is not a session id", ErrNoSession, id)
	}
	return s.revoke(ctx, id, revocation{Name: "RevokeSession", Reason: "revoked"})
}

// RevokePrincipal ends every session of a principal and returns how many
// it ended. A role's ARN (arn:zt:iam::ACCOUNT:role/NAME) ends the
// sessions of every person who signed in as that role.
func (s *Service) RevokePrincipal(ctx context.Context, arn string) (int, error) {
	prefix := "p|" + arn + "|"
	if acct, role, ok := roleOfARN(arn); ok {
		prefix = "p|arn:zt:sts::" + acct + ":assumed-role/" + role + "/"
	}
	ids, err := s.indexed(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("signin: %w", err)
	}
	return s.revokeAll(ctx, ids, revocation{Name: "RevokeSession", Reason: "every session of " + arn + " revoked"})
}

// roleOfARN returns the account and name of a role ARN.
func roleOfARN(arn string) (account, name string, ok bool) {
	rest, ok := strings.CutPrefix(arn, "arn:zt:iam::")
	if !ok {
		return "", "", false
	}
	account, res, ok := strings.Cut(rest, ":")
	if !ok || !strings.HasPrefix(res, "role/") {
		return "", "", false
	}
	name = res[strings.LastIndexByte(res, '/')+1:]
	return account, name, name != ""
}

// revoke ends one session and audits it.
func (s *Service) revoke(ctx context.Context, id string, rv revocation) error {
	n, err := s.revokeAll(ctx, []string{id}, rv)
	if err != nil {
		return err
	}
	if n == 0 {
		// Absent or already revoked: either way it is over.
		if _, _, err := s.read(ctx, id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no session %s", ErrNoSession, id)
		}
	}
	return nil
}

// revokeAll marks sessions revoked, in batches, audits each, and waits
// until this node's feed has seen the writes.
func (s *Service) revokeAll(ctx context.Context, ids []string, rv revocation) (int, error) {
	now := s.now().UTC()
	total := 0
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 100)]
		ids = ids[len(batch):]
		var done []*sessionRecord
		var doneIDs []string
		rev, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
			done, doneIDs = done[:0], doneIDs[:0]
			for _, id := range batch {
				rec, cur, err := readSession(ctx, tx, id)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil && !errors.Is(err, ErrRevoked) {
					return err
				}
				if rec == nil || rec.Revoked {
					continue
				}
				rec.Revoked, rec.RevokedAt, rec.RevokeReason = true, now, rv.Reason
				if err := replaceJSON(ctx, tx, KindSession, id, rec, cur); err != nil {
					return err
				}
				done, doneIDs = append(done, rec), append(doneIDs, id)
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("signin: revoke: %w", err)
		}
		for i, rec := range done {
			s.forget(doneIDs[i])
			s.auditRevocation(ctx, doneIDs[i], rec, rv)
		}
		total += len(done)
		if rev > 0 {
			s.waitFeed(ctx, rev)
		}
	}
	return total, nil
}

// sweep deletes sessions that have ended and sign-in flows that expired.
// Revoked sessions are kept until they would have expired, so that every
// node sees the revocation rather than an absent record.
func (s *Service) sweep(ctx context.Context) error {
	now := s.now()
	recs, err := s.c.Store.List(ctx, KindSession, "")
	if err != nil {
		return err
	}
	for _, raw := range recs {
		var rec sessionRecord
		if json.Unmarshal(raw.Value, &rec) != nil {
			continue
		}
		if now.Before(rec.Expires) && (rec.Revoked || now.Before(s.idleEnd(&rec))) {
			continue
		}
		id, rev := raw.Key, raw.Revision
		_, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
			cur, err := tx.Get(ctx, KindSession, id)
			if err != nil || cur.Revision != rev {
				return err // changed since: leave it for the next sweep
			}
			if _, err := tx.Delete(ctx, KindSession, id); err != nil {
				return err
			}
			for _, k := range rec.indexKeys(id) {
				if _, err := tx.Delete(ctx, KindIndex, k); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	flows, err := s.c.Store.List(ctx, KindFlow, "")
	if err != nil {
		return err
	}
	for _, raw := range flows {
		var f flow
		if json.Unmarshal(raw.Value, &f) == nil && now.Before(f.Expires) {
			continue
		}
		if _, err := store.Delete(ctx, s.c.Store, KindFlow, raw.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// checkCSRF compares a form's token with the session's.
func checkCSRF(rec *sessionRecord, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(rec.CSRF)) == 1
}
