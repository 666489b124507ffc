package control

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

type backend struct{ s store.Store }

func (b backend) Store() (store.Store, error) {
	if b.s == nil {
		return nil, errors.New("connecting")
	}
	return b.s, nil
}

func serve(t *testing.T, b Backend, rec audit.Recorder) (*Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ztgate.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(b, slog.New(slog.DiscardHandler), rec), ConnContext: ConnContext}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return NewClient(sock), sock
}

func TestControl(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: sqlstore.SQLite, Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := &audit.Memory{}
	c, sock := serve(t, backend{s}, rec)
	fi, _ := os.Stat(sock)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v", fi.Mode().Perm())
	}
	// A second node cannot take a socket in use.
	if _, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Listen on a live socket: %v", err)
	}

	changes := make(chan store.Change, 10)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.Watch(wctx, 0, func(ch store.Change) error { changes <- ch; return nil })

	rev, err := c.Put(ctx, "note", "a/b c", []byte("hello"))
	if err != nil || rev == 0 {
		t.Fatalf("Put: %d %v", rev, err)
	}
	r, err := c.Get(ctx, "note", "a/b c")
	if err != nil || string(r.Value) != "hello" || r.Revision != rev {
		t.Fatalf("Get: %+v %v", r, err)
	}
	if _, err := c.Get(ctx, "note", "missing"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Get missing: %v", err)
	}
	if _, err := c.Put(ctx, "note", strings.Repeat("k", store.MaxKeyLen+1), nil); err == nil {
		t.Fatal("Put with an oversized key succeeded")
	}
	// Each write is on record, with the local user who made it.
	recs := rec.Records()
	if len(recs) != 2 || recs[0].EventName != "PutRecord" || recs[0].ErrorCode != "" || recs[1].ErrorCode == "" ||
		!strings.HasPrefix(recs[0].UserIdentity.PrincipalID, "uid:") {
		t.Fatalf("audit records: %+v", recs)
	}
	select {
	case ch := <-changes:
		if ch.Key != "a/b c" || ch.Revision != rev {
			t.Fatalf("watched %+v", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("change not streamed")
	}
}

func TestControlNotReady(t *testing.T) {
	c, _ := serve(t, backend{}, &audit.Memory{})
	if _, err := c.Put(context.Background(), "k", "k", []byte("v")); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("Put without a store: %v", err)
	}
}

func TestStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ztgate.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	// A process that died leaves its socket file behind.
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	l2, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
	if _, err := Listen(filepath.Join(t.TempDir(), strings.Repeat("d", 120), "s")); err == nil {
		t.Fatal("an overlong socket path was accepted")
	}
}

func TestNoNode(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Get(context.Background(), "k", "k")
	if err == nil || !strings.Contains(err.Error(), "no running node") {
		t.Fatalf("Get with no node: %v", err)
	}
}

func TestRevokeSessions(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: sqlstore.SQLite, Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := &audit.Memory{}
	c, _ := serve(t, backend{s}, rec)
	const arn = "arn:zt:iam::000000000000:user/alice"
	out, err := c.RevokeSessions(ctx, arn, "lost laptop")
	if err != nil || out.Principal != arn || out.Revision == 0 || time.Since(out.Before) > time.Minute {
		t.Fatalf("RevokeSessions: %+v %v", out, err)
	}
	r, err := s.Get(ctx, session.RevocationKind, arn)
	if err != nil || !strings.Contains(string(r.Value), `"reason":"lost laptop"`) || !strings.Contains(string(r.Value), `"by":"uid:`) {
		t.Fatalf("revocation record: %s %v", r.Value, err)
	}
	if _, err := c.RevokeSessions(ctx, "alice", ""); err == nil || !strings.Contains(err.Error(), "not an ARN") {
		t.Fatalf("RevokeSessions without an ARN: %v", err)
	}
	// Both attempts are on record as revocations by the local user.
	recs := rec.Records()
	if len(recs) != 2 || recs[0].EventName != "RevokeSessions" || recs[0].ZTGate.Category != audit.CategoryRevocation ||
		recs[0].ErrorCode != "" || recs[0].RequestParameters["reason"] != "lost laptop" || recs[1].ErrorCode == "" ||
		len(recs[0].Resources) != 1 || recs[0].Resources[0].ARN != arn || !strings.HasPrefix(recs[0].UserIdentity.PrincipalID, "uid:") {
		t.Fatalf("audit records: %+v", recs)
	}
}
