package serve

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/iam"
)

// Development bootstrap: the administrator and where its key is written.
const (
	adminUser        = "admin"
	adminCredentials = "admin.credentials"
	adminProfile     = "ztgate"
)

func (n *node) directory() (*iam.Directory, error) {
	if _, err := n.Store(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.iam, nil
}

// adminPolicy is the development administrator's inline policy.
const adminPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"Administrator","Effect":"Allow","Action":"*","Resource":"*"}]}`

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
	if err := d.PutPolicy(ctx, iam.HolderUser, adminUser, "AdministratorAccess", adminPolicy); err != nil {
		return "", err
	}
	if err := n.policies.Refresh(ctx); err != nil {
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
		{Actor: by, Source: audit.SourceIAM, Name: "PutUserPolicy", Resources: res, Parameters: map[string]any{"userName": u.Name, "policyName": "AdministratorAccess", "policyDocument": adminPolicy}},
		{Actor: by, Source: audit.SourceIAM, Name: "CreateAccessKey", Resources: res, Parameters: map[string]any{"userName": u.Name}, Response: map[string]any{"accessKeyId": k.ID}},
	} {
		if err := n.audit.Record(ctx, e.Record()); err != nil {
			return "", fmt.Errorf("audit: %w", err)
		}
	}
	n.log.Info("created the development administrator", "user", u.Name, "access_key_id", k.ID, "file", path)
	return path, nil
}

// Development demo user: a local person who signs in to the demo app.
const (
	demoUser        = "demo"
	demoCredentials = "demo.credentials"
)

// bootstrapDemoUser makes, once, the local user "demo" with a random
// password and a TOTP secret, allowed to use the demo route, and returns
// what to print (once: the file keeps them, mode 0600, and is never
// rewritten); "" when the user exists already or cannot be made yet.
func (n *node) bootstrapDemoUser(ctx context.Context) (string, error) {
	path := n.dir.Path(demoCredentials)
	if _, err := os.Stat(path); err == nil {
		return "", nil
	}
	n.gateway()
	n.mu.Lock()
	si, d := n.signin, n.iam
	n.mu.Unlock()
	if si == nil || d == nil {
		n.log.Warn("no demo user: the gateway is not ready")
		return "", nil
	}
	var raw [12]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	password := base64.RawURLEncoding.EncodeToString(raw[:])
	totp, err := si.AddLocalUser(ctx, demoUser, password)
	if err != nil {
		return "", err
	}
	route := routeARN(n.account(), "demo")
	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"UseTheDemoApp","Effect":"Allow","Action":"http:*","Resource":"` + route + `/*"}]}`
	if err := d.PutPolicy(ctx, iam.HolderUser, demoUser, "demo-app", doc); err != nil {
		return "", err
	}
	if err := n.policies.Refresh(ctx); err != nil {
		return "", err
	}
	text := fmt.Sprintf("user:     %s\npassword: %s\ntotp:     %s\n", demoUser, password, totp)
	if err := datadir.WriteFile(path, []byte(text), 0o600); err != nil {
		return "", err
	}
	n.log.Info("created the development demo user", "user", demoUser, "file", path)
	return text, nil
}
