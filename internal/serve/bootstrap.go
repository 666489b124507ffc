package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/sts"
)

// Development bootstrap: the administrator and where its key is written.
const (
	adminUser        = "admin"
	adminCredentials = "admin.credentials"
	adminProfile     = "ztgate"
)

func (n *node) directory() (*iam.Directory, error) {
	st, err := n.Store()
	if err != nil {
		return nil, err
	}
	return iam.New(iam.Config{Store: st, KEK: n.kek, Account: iam.DefaultAccount}), nil
}

// bootstrapAdmin makes, once, the development administrator and an access
// key for it, written to DATA_DIR/admin.credentials in the AWS
// shared-credentials format. The file is never overwritten: the secret
// exists nowhere else in readable form. It returns the file's path, or ""
// when there is none to offer.
func (n *node) bootstrapAdmin(ctx context.Context) (string, error) {
	path := n.dir.Path(adminCredentials)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	d, err := n.directory()
	if err != nil {
		n.log.Warn("no development administrator: the store is not open yet", "err", err)
		return "", nil
	}
	if _, err := d.GetUser(ctx, adminUser); err == nil {
		n.log.Warn("the administrator exists but its credentials file is gone; none is written again", "user", adminUser, "file", path)
		return "", nil
	} else if !errors.Is(err, iam.ErrNoSuchEntity) {
		return "", err
	}
	u, err := d.CreateUser(ctx, adminUser)
	if err != nil {
		return "", err
	}
	k, secret, err := d.CreateAccessKey(ctx, adminUser)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	_, err = fmt.Fprintf(f, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", adminProfile, k.ID, secret.Reveal())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	by := audit.Actor{Identity: audit.UserIdentity{Type: "AWSService", InvokedBy: "ztgate serve --dev"}}
	res := []audit.Resource{{ARN: u.ARN(), AccountID: u.Account, Type: "AWS::IAM::User"}}
	for _, e := range []audit.AdminEvent{
		{Actor: by, Source: audit.SourceIAM, Name: "CreateUser", Resources: res, Parameters: map[string]any{"userName": u.Name}},
		{Actor: by, Source: audit.SourceIAM, Name: "CreateAccessKey", Resources: res, Parameters: map[string]any{"userName": u.Name}, Response: map[string]any{"accessKeyId": k.ID}},
	} {
		if err := n.audit.Record(ctx, e.Record()); err != nil {
			return "", fmt.Errorf("audit: %w", err)
		}
	}
	n.log.Info("created the development administrator", "user", u.Name, "access_key_id", k.ID, "file", path)
	return path, nil
}

// sts serves STS on POST /, once the store is open.
func (n *node) sts(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	if n.stsH == nil && n.st != nil {
		d := iam.New(iam.Config{Store: n.st, KEK: n.kek, Account: iam.DefaultAccount})
		tokens := session.New(session.Config{KEK: n.kek})
		n.stsH = sts.New(sts.Config{
			Verifier: &sigv4.Verifier{Keys: session.KeyStore{Keys: d, Tokens: tokens, Revoked: &n.revoked}, Service: "sts"},
			Users:    d,
			Tokens:   tokens,
			Audit:    n.audit,
			Log:      n.log,
		})
	}
	h := n.stsH
	n.mu.Unlock()
	if h == nil {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write((&sigv4.Error{Code: "ServiceUnavailable", Message: "The store is not available yet.", HTTPStatus: http.StatusServiceUnavailable}).XML(""))
		return
	}
	h.ServeHTTP(w, r)
}
