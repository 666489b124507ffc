package signin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

// credential is a local user's sign-in credentials (kind KindCredential,
// key the IAM user's name).
type credential struct {
	User string `json:"user"`
	// UserID is the IAM user's id when the credentials were set: a user
	// deleted and made again under the same name is another person, who
	// does not inherit them.
	UserID          string    `json:"userId"`
	Password        string    `json:"password,omitempty"` // argon2id, PHC string
	PasswordChanged time.Time `json:"passwordChanged,omitzero"`
	TOTP            []byte    `json:"totp,omitempty"`     // secret sealed under the KEK
	TOTPStep        int64     `json:"totpStep,omitempty"` // step of the last code accepted
	Handle          []byte    `json:"handle,omitempty"`   // WebAuthn user handle
	Passkeys        []passkey `json:"passkeys,omitempty"`
}

type passkey struct {
	Credential webauthn.Credential `json:"credential"`
	RPID       string              `json:"rpId"`
	Created    time.Time           `json:"created"`
	LastUsed   time.Time           `json:"lastUsed,omitzero"`
}

func handleIndex(handle []byte) string { return "h|" + base64.RawURLEncoding.EncodeToString(handle) }

func totpAAD(c *credential) []byte {
	return []byte("ztgate signin totp v1\x00" + c.User + "\x00" + c.UserID)
}

// localUser is an IAM user with the credentials bound to it.
type localUser struct {
	iam  iam.User
	cred *credential // nil when the user has none
	rev  int64       // the credential record's revision
}

// loadUser returns the IAM user named name and its credentials. Absent
// users yield iam.ErrNoSuchEntity.
func (s *Service) loadUser(ctx context.Context, name string) (*localUser, error) {
	u, err := s.c.Directory.GetUser(ctx, name)
	if err != nil {
		return nil, err
	}
	lu := &localUser{iam: u}
	raw, err := s.c.Store.Get(ctx, KindCredential, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return lu, nil
	case err != nil:
		return nil, err
	}
	c := new(credential)
	if err := json.Unmarshal(raw.Value, c); err != nil {
		s.log.Error("signin: unreadable credential record", "user", name)
		return lu, nil
	}
	if c.UserID == u.ID {
		lu.cred, lu.rev = c, raw.Revision
	}
	return lu, nil
}

// updateCredential changes a user's credentials in one transaction: fn
// gets the current credentials (fresh ones bound to u when there are
// none, or they belong to an earlier user of the name).
func (s *Service) updateCredential(ctx context.Context, u iam.User, fn func(c *credential) error) error {
	_, err := s.c.Store.Update(ctx, func(tx store.Tx) error {
		c := &credential{User: u.Name, UserID: u.ID}
		var oldHandle []byte
		raw, err := tx.Get(ctx, KindCredential, u.Name)
		switch {
		case err == nil:
			var old credential
			if json.Unmarshal(raw.Value, &old) == nil {
				if old.UserID == u.ID {
					c = &old
				}
				oldHandle = old.Handle
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if c.UserID != u.ID && oldHandle != nil {
			// A former user's passkeys must not find this one.
			if _, err := tx.Delete(ctx, KindIndex, handleIndex(oldHandle)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if err := fn(c); err != nil {
			return err
		}
		if len(c.Handle) > 0 {
			if cur, err := tx.Get(ctx, KindIndex, handleIndex(c.Handle)); err != nil || string(cur.Value) != u.Name {
				if _, err := tx.Put(ctx, KindIndex, handleIndex(c.Handle), []byte(u.Name)); err != nil {
					return err
				}
			}
		}
		return putJSON(ctx, tx, KindCredential, u.Name, c)
	})
	return err
}

// AddLocalUser makes name a local user who can sign in: it creates the
// IAM user if there is none, sets the password, enrolls a new TOTP secret
// (replacing any) and returns its otpauth:// URL for an authenticator
// app. Passkeys already registered are kept.
func (s *Service) AddLocalUser(ctx context.Context, name, password string) (string, error) {
	if len(password) < minPassword || len(password) > maxPassword {
		return "", fmt.Errorf("signin: a password is %d to %d bytes", minPassword, maxPassword)
	}
	u, err := s.c.Directory.GetUser(ctx, name)
	if errors.Is(err, iam.ErrNoSuchEntity) {
		u, err = s.c.Directory.CreateUser(ctx, name)
		if errors.Is(err, iam.ErrEntityExists) {
			u, err = s.c.Directory.GetUser(ctx, name)
		}
	}
	if err != nil {
		return "", fmt.Errorf("signin: %w", err)
	}
	hash, err := hashPassword(s.argon, password)
	if err != nil {
		return "", err
	}
	key, err := newTOTPKey(name)
	if err != nil {
		return "", fmt.Errorf("signin: totp: %w", err)
	}
	// Audited first: a change that cannot be audited is not made.
	ev := audit.AdminEvent{
		Actor:      audit.Actor{Identity: audit.UserIdentity{Type: "AWSService", InvokedBy: audit.SourceSignIn}},
		Source:     audit.SourceSignIn,
		Name:       "CreateLoginProfile",
		Resources:  []audit.Resource{{ARN: u.ARN(), AccountID: u.Account, Type: "AWS::IAM::User"}},
		Parameters: map[string]any{"userName": name, "mfa": "totp"},
	}
	if err := s.c.Audit.Record(ctx, ev.Record()); err != nil {
		return "", fmt.Errorf("signin: audit: %w", err)
	}
	now := s.now().UTC()
	err = s.updateCredential(ctx, u, func(c *credential) error {
		c.Password, c.PasswordChanged = hash, now
		sealed, err := secret.Seal(s.c.KEK, []byte(key.Secret()), totpAAD(c))
		if err != nil {
			return err
		}
		c.TOTP, c.TOTPStep = sealed, 0
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("signin: store credentials: %w", err)
	}
	return key.URL(), nil
}

// openTOTP returns the user's TOTP secret, or "" when there is none.
func (s *Service) openTOTP(c *credential) (string, error) {
	if c == nil || len(c.TOTP) == 0 {
		return "", nil
	}
	b, err := secret.Open(s.c.KEK, c.TOTP, totpAAD(c))
	if err != nil {
		return "", fmt.Errorf("signin: open totp secret of %s: %w", c.User, err)
	}
	return string(b), nil
}

// useTOTP accepts code for user u if it is valid now and its time step
// was not used before, recording the step in the same transaction so that
// two nodes cannot both accept it.
func (s *Service) useTOTP(ctx context.Context, u iam.User, code string) (bool, error) {
	ok := false
	err := s.updateCredential(ctx, u, func(c *credential) error {
		ok = false
		sec, err := s.openTOTP(c)
		if err != nil {
			return err
		}
		if sec == "" {
			return errNoMatch
		}
		step, match := totpStep(sec, code, s.now(), c.TOTPStep)
		if !match {
			return errNoMatch
		}
		c.TOTPStep, ok = step, true
		return nil
	})
	if errors.Is(err, errNoMatch) {
		return false, nil
	}
	return ok && err == nil, err
}

var errNoMatch = errors.New("no match")

// waUser is a local user as go-webauthn sees it.
type waUser struct {
	name  string
	id    []byte
	creds []webauthn.Credential
}

var _ webauthn.User = (*waUser)(nil)

func (u *waUser) WebAuthnID() []byte                         { return u.id }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.name }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (lu *localUser) webauthnUser() *waUser {
	u := &waUser{name: lu.iam.Name}
	if lu.cred != nil {
		u.id = lu.cred.Handle
		for _, p := range lu.cred.Passkeys {
			u.creds = append(u.creds, p.Credential)
		}
	}
	return u
}

// newHandle draws a WebAuthn user handle: random, so that it says nothing
// about the user.
func newHandle() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
