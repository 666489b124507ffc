package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/sigv4"
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
	u, k, secret, err := n.makeAdmin(ctx, d, adminUser, audit.Actor{Identity: audit.UserIdentity{Type: "AWSService", InvokedBy: "ztgate serve --dev"}})
	if err != nil {
		return "", err
	}
	if err := writeCredentials(path, k.ID, secret); err != nil {
		return "", err
	}
	n.log.Info("created the development administrator", "user", u.Name, "access_key_id", k.ID, "file", path)
	return path, nil
}

// noUsers reports whether the store holds no IAM user yet.
func (n *node) noUsers(ctx context.Context) (bool, error) {
	d, err := n.directory()
	if err != nil {
		return false, nil // not open: nothing is made
	}
	users, err := d.ListUsers(ctx, "")
	if err != nil {
		return false, err
	}
	return len(users) == 0, nil
}

// makeAdmin makes an IAM user allowed everything, with an access key, and
// records it as done by by. The user must not exist.
func (n *node) makeAdmin(ctx context.Context, d *iam.Directory, name string, by audit.Actor) (iam.User, iam.AccessKey, sigv4.Secret, error) {
	u, err := d.CreateUser(ctx, name)
	if err != nil {
		return iam.User{}, iam.AccessKey{}, sigv4.Secret{}, err
	}
	if err := d.PutPolicy(ctx, iam.HolderUser, name, "AdministratorAccess", adminPolicy); err != nil {
		return iam.User{}, iam.AccessKey{}, sigv4.Secret{}, err
	}
	if err := n.policies.Refresh(ctx); err != nil {
		return iam.User{}, iam.AccessKey{}, sigv4.Secret{}, err
	}
	k, secret, err := d.CreateAccessKey(ctx, name)
	if err != nil {
		return iam.User{}, iam.AccessKey{}, sigv4.Secret{}, err
	}
	res := []audit.Resource{{ARN: u.ARN(), AccountID: u.Account, Type: "AWS::IAM::User"}}
	for _, e := range []audit.AdminEvent{
		{Actor: by, Source: audit.SourceIAM, Name: "CreateUser", Resources: res, Parameters: map[string]any{"userName": u.Name}},
		{Actor: by, Source: audit.SourceIAM, Name: "PutUserPolicy", Resources: res, Parameters: map[string]any{"userName": u.Name, "policyName": "AdministratorAccess", "policyDocument": adminPolicy}},
		{Actor: by, Source: audit.SourceIAM, Name: "CreateAccessKey", Resources: res, Parameters: map[string]any{"userName": u.Name}, Response: map[string]any{"accessKeyId": k.ID}},
	} {
		if err := n.audit.Record(ctx, e.Record()); err != nil {
			return iam.User{}, iam.AccessKey{}, sigv4.Secret{}, fmt.Errorf("audit: %w", err)
		}
	}
	return u, k, secret, nil
}

// writeCredentials writes an access key as an AWS shared-credentials file
// with the profile adminProfile, mode 0600, refusing to replace a file.
func writeCredentials(path, id string, secret sigv4.Secret) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = fmt.Fprintf(f, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", adminProfile, id, secret.Reveal())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// BootstrapAdminPath is the control socket's endpoint making an
// administrator: for a deployment set up without --dev, whose first
// access key nothing else can make.
const BootstrapAdminPath = "/v1/iam/bootstrap-admin"

// bootstrapAdminJSON is its request and answer.
type bootstrapAdminJSON struct {
	UserName        string `json:"userName"`
	ARN             string `json:"arn,omitempty"`
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
}

// bootstrapAdminHandler makes an administrator for the owner of the data
// directory (the control socket admits no one else). It refuses a user
// that exists: an administrator's keys are made once, and an existing
// user's powers are not raised behind the IAM API's back.
func (n *node) bootstrapAdminHandler(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) { control.WriteError(w, status, msg) }
	var req bootstrapAdminJSON
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		fail(http.StatusBadRequest, "body: not the JSON of a bootstrap request")
		return
	}
	d, err := n.directory()
	if err != nil {
		fail(http.StatusServiceUnavailable, "the store is not open yet")
		return
	}
	if _, err := d.GetUser(r.Context(), req.UserName); err == nil {
		fail(http.StatusConflict, fmt.Sprintf("user %q exists: make its keys through the IAM API", req.UserName))
		return
	} else if !errors.Is(err, iam.ErrNoSuchEntity) {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	u, k, secret, err := n.makeAdmin(r.Context(), d, req.UserName, control.Actor(r))
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, iam.ErrInvalidInput) || errors.Is(err, iam.ErrEntityExists) {
			status = http.StatusBadRequest
		}
		fail(status, err.Error())
		return
	}
	n.log.Info("administrator made through the control socket", "user", u.Name, "access_key_id", k.ID)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(bootstrapAdminJSON{UserName: u.Name, ARN: u.ARN(), AccessKeyID: k.ID, SecretAccessKey: secret.Reveal()})
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
	if _, err := d.GetUser(ctx, demoUser); err == nil {
		// Made by another node of the same store, which keeps its
		// credentials: a new password here would lock that one out.
		n.log.Warn("the demo user exists, made elsewhere; its credentials are in that node's data directory", "user", demoUser)
		return "", nil
	} else if !errors.Is(err, iam.ErrNoSuchEntity) {
		return "", err
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

// BootstrapAdminCommand returns "ztgate iam bootstrap-admin": the first
// administrator of a deployment set up without --dev, made through the
// running node's owner-only control socket. It reads --data-dir from its
// parent command.
func BootstrapAdminCommand() *cobra.Command {
	var name, out string
	cmd := &cobra.Command{
		Use:   "bootstrap-admin [--user-name NAME] [--out FILE]",
		Short: "Make the first administrator and its access key, through the node's control socket",
		Long: `Make an IAM user allowed everything, with an access key, through the
control socket of the running node at --data-dir, which only the owner
of the data directory can reach: the way to the first access key of a
deployment set up without --dev. The key is written, as an AWS
shared-credentials file (profile "ztgate", mode 0600), to --out (default
DATA_DIR/admin.credentials), which must not exist; it is shown nowhere
else. An existing user is refused. The making is audited.`,
		Example: "  ztgate iam bootstrap-admin --data-dir /var/lib/ztgate\n  ztgate iam list-users --data-dir /var/lib/ztgate",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dataDir, err := cmd.Flags().GetString("data-dir")
			if err != nil {
				return err
			}
			d, err := datadir.Abs(dataDir)
			if err != nil {
				return err
			}
			if out == "" {
				out = d.Path(adminCredentials)
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists: give another --out", out)
			}
			body, err := json.Marshal(bootstrapAdminJSON{UserName: name})
			if err != nil {
				return err
			}
			var got bootstrapAdminJSON
			if err := control.NewClient(d.Socket()).Do(cmd.Context(), http.MethodPost, BootstrapAdminPath, bytes.NewReader(body), &got); err != nil {
				return err
			}
			if err := writeCredentials(out, got.AccessKeyID, sigv4.NewSecret(got.SecretAccessKey)); err != nil {
				return fmt.Errorf("%w (the user %s was made: delete its access key %s and make another)", err, got.UserName, got.AccessKeyID)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "made %s, access key %s, written to %s (profile %s)\n", got.ARN, got.AccessKeyID, out, adminProfile)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "user-name", adminUser, "the administrator's user name")
	cmd.Flags().StringVar(&out, "out", "", "where to write the key (default DATA_DIR/admin.credentials)")
	return cmd
}
