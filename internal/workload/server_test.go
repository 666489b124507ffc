package workload

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestFetchX509SVID(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newTestCA(t, clock), clock, []Entry{{
		ID:        "self",
		SPIFFEID:  "spiffe://example.org/agent-test",
		Selectors: []string{"unix:uid:0", "unix:path:" + selfPath(t)},
	}})
	ctx := testCtx(t)

	svid, err := workloadapi.FetchX509SVID(ctx, h.addr())
	if err != nil {
		t.Fatal(err)
	}
	if got := svid.ID.String(); got != "spiffe://example.org/agent-test" {
		t.Fatalf("SPIFFE ID = %s", got)
	}
	leaf := svid.Certificates[0]
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got != time.Hour {
		t.Errorf("lifetime = %s, want the default hour", got)
	}
	key, ok := svid.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", svid.PrivateKey)
	}

	// The SVID verifies against the bundle the same API hands out.
	bundles, err := workloadapi.FetchX509Bundles(ctx, h.addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := x509svid.Verify(svid.Certificates, bundles, x509svid.WithTime(clock.Now())); err != nil {
		t.Fatalf("SVID does not verify against the served bundle: %v", err)
	}
}

func TestFetchX509SVIDsOneForEachMatchingEntry(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newTestCA(t, clock), clock, []Entry{
		{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0"}},
		{ID: "b", SPIFFEID: "spiffe://example.org/b", Selectors: []string{"unix:uid:4242"}},
		{ID: "c", SPIFFEID: "spiffe://example.org/c", Selectors: []string{"unix:path:" + selfPath(t)}},
		{ID: "d", SPIFFEID: "spiffe://example.org/d", Selectors: []string{"unix:uid:0", "unix:gid:4242"}},
		{ID: "e", SPIFFEID: "spiffe://example.org/e", Selectors: []string{"unix:user:root", "unix:group:root"}, TTL: 10 * time.Minute},
	})
	svids, err := workloadapi.FetchX509SVIDs(testCtx(t), h.addr())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range svids {
		ids = append(ids, s.ID.Path())
	}
	if want := []string{"/a", "/c", "/e"}; !slices.Equal(ids, want) {
		t.Fatalf("SVIDs for %v, want %v in entry order", ids, want)
	}
	if got := svids[2].Certificates[0].NotAfter.Sub(svids[2].Certificates[0].NotBefore); got != 10*time.Minute {
		t.Errorf("entry TTL not used: lifetime %s", got)
	}
}

func TestNoMatchingEntryIsDenied(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newJWTCA(t, clock), clock, []Entry{
		{ID: "other", SPIFFEID: "spiffe://example.org/other", Selectors: []string{"unix:uid:4242"}},
		{ID: "half", SPIFFEID: "spiffe://example.org/half", Selectors: []string{"unix:uid:0", "unix:path:/usr/bin/not-this"}},
	})
	ctx := testCtx(t)
	client := h.client(ctx)

	_, err := client.FetchX509SVID(ctx)
	if status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != "no identity issued" {
		t.Errorf("FetchX509SVID: %v, want PermissionDenied: no identity issued", err)
	}
	if _, err = client.FetchX509Bundles(ctx); status.Code(err) != codes.PermissionDenied {
		t.Errorf("FetchX509Bundles: %v, want PermissionDenied", err)
	}
	if _, err = client.FetchJWTBundles(ctx); status.Code(err) != codes.PermissionDenied {
		t.Errorf("FetchJWTBundles: %v, want PermissionDenied", err)
	}
	if _, err = client.ValidateJWTSVID(ctx, "x.y.z", "aud"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("ValidateJWTSVID: %v, want PermissionDenied", err)
	}
	// The other uid's SVIDs were issued all the same (eagerly), just not
	// to this caller.
	waitFor(t, "both entries' SVIDs", func() bool { issued, _ := h.ca.counts(); return issued == 2 })
}

func TestSecurityHeaderRequired(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newJWTCA(t, clock), clock, []Entry{
		{ID: "self", SPIFFEID: "spiffe://example.org/self", Selectors: []string{"unix:uid:0"}},
	})
	conn, err := grpc.NewClient("unix://"+h.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := workload.NewSpiffeWorkloadAPIClient(conn)

	calls := map[string]func(ctx context.Context) error{
		"FetchX509SVID": func(ctx context.Context) error {
			s, err := c.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"FetchX509Bundles": func(ctx context.Context) error {
			s, err := c.FetchX509Bundles(ctx, &workload.X509BundlesRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"FetchJWTSVID": func(ctx context.Context) error {
			_, err := c.FetchJWTSVID(ctx, &workload.JWTSVIDRequest{Audience: []string{"a"}})
			return err
		},
		"FetchJWTBundles": func(ctx context.Context) error {
			s, err := c.FetchJWTBundles(ctx, &workload.JWTBundlesRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"ValidateJWTSVID": func(ctx context.Context) error {
			_, err := c.ValidateJWTSVID(ctx, &workload.ValidateJWTSVIDRequest{Audience: "a", Svid: "x.y.z"})
			return err
		},
		"FetchWITSVID": func(ctx context.Context) error {
			s, err := c.FetchWITSVID(ctx, &workload.WITSVIDRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
	}
	headers := map[string]metadata.MD{
		"missing":   nil,
		"false":     metadata.Pairs("workload.spiffe.io", "false"),
		"twice":     metadata.Pairs("workload.spiffe.io", "true", "workload.spiffe.io", "true"),
		"misspelt":  metadata.Pairs("workload.spiffe.io", "True"),
		"other key": metadata.Pairs("workload-spiffe-io", "true"),
	}
	for name, call := range calls {
		for hname, md := range headers {
			t.Run(name+"/"+hname, func(t *testing.T) {
				ctx := testCtx(t)
				if md != nil {
					ctx = metadata.NewOutgoingContext(ctx, md)
				}
				err := call(ctx)
				if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != "security header missing from request" {
					t.Fatalf("%v, want InvalidArgument: security header missing from request", err)
				}
			})
		}
	}
	// With the header, the same raw client is served: the refusals above
	// are the header's doing.
	ctx := metadata.NewOutgoingContext(testCtx(t), metadata.Pairs("workload.spiffe.io", "true"))
	s, err := c.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Svids) != 1 || resp.Svids[0].SpiffeId != "spiffe://example.org/self" {
		t.Fatalf("response %v", resp.Svids)
	}
	// WIT-SVIDs are not offered; the client's watch gives up on this code.
	s2, err := c.FetchWITSVID(ctx, &workload.WITSVIDRequest{})
	if err == nil {
		_, err = s2.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("FetchWITSVID with header: %v, want Unimplemented", err)
	}
}

func TestRotationReachesWatchersBeforeExpiry(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newTestCA(t, clock), clock, []Entry{
		{ID: "self", SPIFFEID: "spiffe://example.org/self", Selectors: []string{"unix:uid:0"}},
	})
	ctx := testCtx(t)
	client := h.client(ctx)
	w := newX509Watcher()
	go client.WatchX509Context(ctx, w)

	first := defaultSVID(t, w.next(t)).Certificates[0]
	// Just short of half-life: nothing happens.
	clock.Advance(29 * time.Minute)
	select {
	case c := <-w.updates:
		t.Fatalf("update before half-life: serial %s", defaultSVID(t, c).Certificates[0].SerialNumber)
	case <-time.After(200 * time.Millisecond):
	}
	clock.Advance(time.Minute + time.Second)
	second := defaultSVID(t, w.next(t)).Certificates[0]

	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("rotation kept the serial")
	}
	if now := clock.Now(); !now.Before(first.NotAfter) {
		t.Fatalf("rotated at %s, after the old SVID expired at %s", now, first.NotAfter)
	}
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("new SVID expires %s, not after the old %s", second.NotAfter, first.NotAfter)
	}
	if first.PublicKey.(*ecdsa.PublicKey).Equal(second.PublicKey) {
		t.Error("rotation reused the key")
	}
	// And the next renewal follows the new SVID's half-life.
	clock.Advance(30 * time.Minute)
	third := defaultSVID(t, w.next(t)).Certificates[0]
	if third.SerialNumber.Cmp(second.SerialNumber) == 0 {
		t.Fatal("second rotation kept the serial")
	}
}

func TestX509SourceFollowsRotation(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newTestCA(t, clock), clock, []Entry{
		{ID: "self", SPIFFEID: "spiffe://example.org/self", Selectors: []string{"unix:uid:0"}},
	})
	ctx := testCtx(t)
	src, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(h.addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	before, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(31 * time.Minute)
	if err := src.WaitUntilUpdated(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	if after.Certificates[0].SerialNumber.Cmp(before.Certificates[0].SerialNumber) == 0 {
		t.Fatal("source still has the old SVID")
	}
}

// bundleWatcher collects bundle updates.
type bundleWatcher struct{ updates chan []*x509.Certificate }

func (w *bundleWatcher) OnX509BundlesUpdate(s *x509bundle.Set) {
	b, ok := s.Get(spiffeid.RequireTrustDomainFromString("example.org"))
	if !ok {
		w.updates <- nil
		return
	}
	w.updates <- b.X509Authorities()
}
func (w *bundleWatcher) OnX509BundlesWatchError(error) {}

func TestBundleStreamDeliversUpdates(t *testing.T) {
	clock, ca, h, ctx := startSelf(t)
	client := h.client(ctx)
	bw := &bundleWatcher{updates: make(chan []*x509.Certificate, 8)}
	go client.WatchX509Bundles(ctx, bw)
	xw := newX509Watcher()
	go client.WatchX509Context(ctx, xw)

	next := func() []*x509.Certificate {
		t.Helper()
		select {
		case a := <-bw.updates:
			return a
		case <-time.After(10 * time.Second):
			t.Fatal("no bundle update")
			return nil
		}
	}
	if got := next(); len(got) != 1 || !got[0].Equal(ca.authorities[0]) {
		t.Fatalf("first bundle has %d authorities, want the root", len(got))
	}
	if got := xw.next(t).Bundles; got.Len() != 1 {
		t.Fatalf("X.509 context bundles: %d", got.Len())
	}

	ca.rotate(t)
	clock.Advance(defaultBundleRefresh)
	got := next()
	if len(got) != 2 || !got[1].Equal(ca.signer) {
		t.Fatalf("bundle after CA rotation has %d authorities, want old and new roots", len(got))
	}
	// The SVID stream carries the new bundle too.
	b, _ := xw.next(t).Bundles.Get(spiffeid.RequireTrustDomainFromString("example.org"))
	if n := len(b.X509Authorities()); n != 2 {
		t.Fatalf("SVID stream bundle has %d authorities, want 2", n)
	}
	// An unchanged bundle is not sent again.
	clock.Advance(defaultBundleRefresh)
	select {
	case <-bw.updates:
		t.Fatal("unchanged bundle re-sent")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestIssuerOutageKeepsSVIDAndRecovers(t *testing.T) {
	clock, ca, h, ctx := startSelf(t)
	orig, err := workloadapi.FetchX509SVID(ctx, h.addr())
	if err != nil {
		t.Fatal(err)
	}
	origLeaf := orig.Certificates[0]

	ca.setDown(true)
	// Past the renewal time (30 minutes) and halfway to expiry, a minute at
	// a time: every due retry fails.
	for range 45 {
		clock.Advance(time.Minute)
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "failed renewals", func() bool { _, failed := ca.counts(); return failed >= 2 })
	svid, err := workloadapi.FetchX509SVID(ctx, h.addr())
	if err != nil {
		t.Fatalf("fetch during outage: %v", err)
	}
	if svid.Certificates[0].SerialNumber.Cmp(origLeaf.SerialNumber) != 0 {
		t.Fatal("SVID changed during the outage")
	}
	_, failed := ca.counts()
	// Backoff, not a busy loop: a failed try waits at least half a second,
	// so each fake minute from the 30th to the 45th allows one.
	if failed > 16 {
		t.Errorf("%d failed issuances in 16 fake minutes", failed)
	}

	ca.setDown(false)
	clock.Advance(maxRetry)
	waitFor(t, "renewal after the outage", func() bool {
		s, err := workloadapi.FetchX509SVID(ctx, h.addr())
		return err == nil && s.Certificates[0].SerialNumber.Cmp(origLeaf.SerialNumber) != 0
	})
	if !clock.Now().Before(origLeaf.NotAfter) {
		t.Fatal("renewed only after the old SVID expired")
	}
	if !logged(h, "x509-svid issuance failed") {
		t.Error("failed renewals were not logged")
	}
}

// TestExpiredSVIDNotServed: an SVID that expires while the node is out of
// reach is not handed out: a fetch fails with Unavailable, an open stream
// ends with it, and the next renewal serves again.
func TestExpiredSVIDNotServed(t *testing.T) {
	clock, ca, h, ctx := startSelf(t)
	orig, err := workloadapi.FetchX509SVID(ctx, h.addr())
	if err != nil {
		t.Fatal(err)
	}
	client := h.client(ctx)
	w := newX509Watcher()
	go client.WatchX509Context(ctx, w)
	w.next(t)

	ca.setDown(true)
	for !clock.Now().After(orig.Certificates[0].NotAfter) {
		clock.Advance(time.Minute)
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "the expired SVID dropped", func() bool {
		_, err := workloadapi.FetchX509SVID(ctx, h.addr())
		return status.Code(err) == codes.Unavailable
	})
	waitFor(t, "the expiry logged", func() bool { return logged(h, "x509-svid expired before it could be renewed") })
	// The open stream was told, not left holding the expired SVID.
	select {
	case err := <-w.errs:
		if status.Code(err) != codes.Unavailable {
			t.Errorf("watch error %v, want Unavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the open stream was not told that its SVID expired")
	}

	ca.setDown(false)
	clock.Advance(maxRetry)
	waitFor(t, "a new SVID after the outage", func() bool {
		s, err := workloadapi.FetchX509SVID(ctx, h.addr())
		return err == nil && clock.Now().Before(s.Certificates[0].NotAfter)
	})
}

func TestEntryChangesReachOpenStreams(t *testing.T) {
	clock := newFakeClock()
	h := startServer(t, newTestCA(t, clock), clock, []Entry{
		{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0"}},
	})
	ctx := testCtx(t)
	client := h.client(ctx)
	w := newX509Watcher()
	go client.WatchX509Context(ctx, w)
	if got := w.next(t).SVIDs; len(got) != 1 || got[0].ID.Path() != "/a" {
		t.Fatalf("first update: %v", got)
	}

	// A new matching entry: its SVID is issued and pushed.
	if err := h.entries.Set([]Entry{
		{ID: "a", SPIFFEID: "spiffe://example.org/a", Selectors: []string{"unix:uid:0"}},
		{ID: "b", SPIFFEID: "spiffe://example.org/b", Selectors: []string{"unix:gid:0"}},
	}); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, s := range w.next(t).SVIDs {
		paths = append(paths, s.ID.Path())
	}
	if !slices.Equal(paths, []string{"/a", "/b"}) {
		t.Fatalf("after adding b: %v", paths)
	}

	// The entry's SPIFFE ID changes: the old identity is not served.
	if err := h.entries.Set([]Entry{
		{ID: "a", SPIFFEID: "spiffe://example.org/a2", Selectors: []string{"unix:uid:0"}},
	}); err != nil {
		t.Fatal(err)
	}
	// The stream waits for the new identity rather than sending the old.
	if got := w.next(t).SVIDs; len(got) != 1 || got[0].ID.Path() != "/a2" {
		t.Fatalf("after the SPIFFE ID change: %v", got)
	}

	// No entry left for this workload: the stream ends, denied.
	if err := h.entries.Set([]Entry{
		{ID: "other", SPIFFEID: "spiffe://example.org/other", Selectors: []string{"unix:uid:4242"}},
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.errs:
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("stream ended with %v, want PermissionDenied", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream not ended after the workload lost its entries")
	}
}

func TestSocket(t *testing.T) {
	t.Run("stale socket replaced, mode 0666, removed at shutdown", func(t *testing.T) {
		dir := shortDir(t)
		path := filepath.Join(dir, "agent.sock")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close() // a dead agent's socket file stays

		clock := newFakeClock()
		set, _ := NewEntrySet(Entry{ID: "self", SPIFFEID: "spiffe://example.org/self", Selectors: []string{"unix:uid:0"}})
		srv, err := New(Config{Socket: path, Issuer: newTestCA(t, clock), Entries: set, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx) }()

		waitFor(t, "socket", func() bool {
			_, err := workloadapi.FetchX509SVID(testCtx(t), workloadapi.WithAddr("unix://"+path))
			return err == nil
		})
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o666 {
			t.Errorf("socket mode %v, want 0666", fi.Mode().Perm())
		}

		// An open stream does not hold up shutdown; its client is told.
		client, err := workloadapi.New(testCtx(t), workloadapi.WithAddr("unix://"+path))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		w := newX509Watcher()
		go client.WatchX509Context(testCtx(t), w)
		w.next(t)

		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(stopGrace - time.Second):
			t.Fatal("Run did not stop promptly with a stream open")
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind: %v", err)
		}
		select {
		case err := <-w.errs:
			if c := status.Code(err); c != codes.Unavailable {
				t.Errorf("stream ended with %v, want Unavailable", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("watcher not told of the shutdown")
		}
		if err := srv.Run(testCtx(t)); err == nil {
			t.Error("second Run succeeded")
		}
	})

	t.Run("refuses a live socket and a non-socket", func(t *testing.T) {
		clock := newFakeClock()
		h := startServer(t, newTestCA(t, clock), clock, nil)
		set, _ := NewEntrySet()
		srv, err := New(Config{Socket: h.socket, Issuer: h.ca, Entries: set})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Run(testCtx(t)); !errors.Is(err, ErrSocketInUse) {
			t.Fatalf("Run on a live socket: %v, want ErrSocketInUse", err)
		}

		file := filepath.Join(shortDir(t), "not-a-socket")
		if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		srv, err = New(Config{Socket: file, Issuer: h.ca, Entries: set})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Run(testCtx(t)); err == nil {
			t.Fatal("Run replaced a regular file")
		}
		if b, _ := os.ReadFile(file); string(b) != "keep me" {
			t.Fatal("regular file clobbered")
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	set, _ := NewEntrySet()
	ca := newTestCA(t, newFakeClock())
	long := "/" + string(make([]byte, maxSocketPath))
	for name, cfg := range map[string]Config{
		"no socket":    {Issuer: ca, Entries: set},
		"long socket":  {Socket: long, Issuer: ca, Entries: set},
		"no issuer":    {Socket: "/tmp/x.sock", Entries: set},
		"no entries":   {Socket: "/tmp/x.sock", Issuer: ca},
		"negative ttl": {Socket: "/tmp/x.sock", Issuer: ca, Entries: set, DefaultTTL: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
