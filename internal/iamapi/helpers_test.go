package iamapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	iamsdk "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authn"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

const (
	account  = "111122223333"
	allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
)

func arnOf(kind, pathName string) string {
	return "arn:zt:iam::" + account + ":" + kind + "/" + pathName
}

// keyPair is an access key and its secret.
type keyPair struct{ id, secret, token string }

// recorder is an audit.Memory that can be made to fail.
type recorder struct {
	audit.Memory
	fail atomic.Bool
}

func (r *recorder) Record(ctx context.Context, rec *audit.Record) error {
	if r.fail.Load() {
		return errors.New("audit log unavailable")
	}
	return r.Memory.Record(ctx, rec)
}

// syncBuffer is a log destination the server's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a node's IAM API over a real SQLite store, served over HTTP,
// with an administrator (allowed everything) and a user allowed nothing.
type env struct {
	st            store.Store
	dir           *iam.Directory
	pol           *iam.Policies
	rec           *recorder
	logs          *syncBuffer
	srv           *httptest.Server
	admin, nobody keyPair
	tokens        *session.Tokens

	mu      sync.Mutex
	secrets []string // every secret access key made, to look for in records and logs
}

func newEnv(t *testing.T, opts ...func(*iam.Config)) *env {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Driver: sqlstore.SQLite, Path: filepath.Join(t.TempDir(), "ztgate.db"), Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, rec: &recorder{}, logs: &syncBuffer{}}
	c := iam.Config{Store: st, KEK: kek, Account: account}
	for _, o := range opts {
		o(&c)
	}
	e.dir = iam.New(c)
	e.pol = iam.NewPolicies(e.dir)
	e.admin = e.user(t, "admin", allowAll)
	e.nobody = e.user(t, "nobody", "")
	if err := e.pol.Load(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.tokens = session.New(session.Config{KEK: kek})
	keys := session.KeyStore{Keys: e.dir, Tokens: e.tokens, Revoked: &session.Revocations{}}
	a := authn.New(authn.Config{Verifier: &sigv4.Verifier{Keys: keys}, Users: e.dir, Tokens: e.tokens, Policies: e.pol})
	e.srv = httptest.NewServer(New(Config{Authenticator: a, Directory: e.dir, Policies: e.pol, Audit: e.rec, Log: log}))
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { e.checkNoSecrets(t) })
	return e
}

// user makes a user with an access key and, unless doc is "", an inline
// policy, directly in the directory.
func (e *env) user(t *testing.T, name, doc string) keyPair {
	t.Helper()
	ctx := context.Background()
	if _, err := e.dir.CreateUser(ctx, name); err != nil {
		t.Fatal(err)
	}
	if doc != "" {
		if err := e.dir.PutPolicy(ctx, iam.HolderUser, name, "policy", doc); err != nil {
			t.Fatal(err)
		}
	}
	k, sec, err := e.dir.CreateAccessKey(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	e.keep(sec.Reveal())
	if err := e.pol.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	return keyPair{id: k.ID, secret: sec.Reveal()}
}

func (e *env) keep(secret string) {
	e.mu.Lock()
	e.secrets = append(e.secrets, secret)
	e.mu.Unlock()
}

// checkNoSecrets fails if any secret access key made in the test is in an
// audit record or a log line.
func (e *env) checkNoSecrets(t *testing.T) {
	recs, err := json.Marshal(e.rec.Records())
	if err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.secrets {
		if strings.Contains(string(recs), s) {
			t.Errorf("an audit record holds a secret access key")
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log holds a secret access key")
		}
	}
}

// sdk is aws-sdk-go-v2's IAM client pointed at the node.
func (e *env) sdk(t *testing.T, k keyPair) *iamsdk.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(k.id, k.secret, k.token)),
		config.WithRetryMaxAttempts(1),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return iamsdk.NewFromConfig(cfg, func(o *iamsdk.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
}

// sessionOf issues temporary credentials to a user, as GetSessionToken
// does, with or without MFA.
func (e *env) sessionOf(t *testing.T, name string, mfa bool) keyPair {
	t.Helper()
	u, err := e.dir.GetUser(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	c, tok, err := e.tokens.Issue(session.Grant{Principal: u.ARN(), PrincipalID: u.ID, Account: account, MFA: mfa, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.keep(c.Secret.Reveal())
	return keyPair{id: c.AccessKeyID, secret: c.Secret.Reveal(), token: tok}
}

// post sends body signed with k for service and returns the status and
// the response body.
func (e *env) post(t *testing.T, k keyPair, service, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if k.id != "" {
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: k.id, SecretAccessKey: k.secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if id := resp.Header.Get("x-amzn-RequestId"); id == "" || !strings.Contains(string(b), "<RequestId>"+id+"</RequestId>") {
		t.Errorf("request id header %q is not the body's:\n%s", id, b)
	}
	return resp.StatusCode, string(b)
}

// apiError returns the code, message and HTTP status of an SDK error.
func apiError(t *testing.T, err error) (code, msg string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

// last returns the latest audit record.
func (e *env) last(t *testing.T) audit.Record {
	t.Helper()
	recs := e.rec.Records()
	if len(recs) == 0 {
		t.Fatal("no audit record")
	}
	return recs[len(recs)-1]
}

// revision is the store's revision: it moves with every write.
// revision is the store's last change to anything but an access key's
// last use, which authentication records whatever the call then does.
func (e *env) revision(t *testing.T) int64 {
	t.Helper()
	cs, err := e.st.Changes(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].Kind != iam.KindKeyUse {
			return cs[i].Revision
		}
	}
	return 0
}
