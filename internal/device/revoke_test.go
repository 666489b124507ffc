package device

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

func TestRevoke(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	e, key := n.enroll(t)
	id := e.Device.ID
	n.clock.Advance(time.Minute)
	d, err := n.reg.Revoke(ctx, id, "arn:zt:iam::000000000000:user/admin", "laptop stolen")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Revoked || !d.RevokedAt.Equal(n.clock.Now()) || d.RevokedBy != "arn:zt:iam::000000000000:user/admin" || d.RevokedReason != "laptop stolen" {
		t.Fatalf("revoked device %+v", d)
	}
	// The certificate is refused as every certificate the CA revoked.
	if !n.ca.Revoked(e.Chain[0].SerialNumber) {
		t.Fatal("the device's certificate is not revoked")
	}
	_, err = n.ca.VerifySVID(e.Chain)
	if err == nil {
		t.Fatal("VerifySVID accepts a revoked device's certificate")
	}
	_, err = n.reg.AcceptReport(ctx, n.signed(t, n.report(), key, e.Chain))
	checkErr(t, err, ErrRevoked)
	if n.reg.Context(id, n.clock.Now(), &authz.Context{}) {
		t.Fatal("a revoked device gets facts")
	}

	// Again: the first revocation stands, and nothing fails.
	n.clock.Advance(time.Minute)
	d, err = n.reg.Revoke(ctx, id, "someone else", "again")
	if err != nil {
		t.Fatal(err)
	}
	if d.RevokedBy != "arn:zt:iam::000000000000:user/admin" || d.RevokedReason != "laptop stolen" {
		t.Errorf("the second revocation replaced the first: %+v", d)
	}
	stored, err := n.reg.Device(ctx, id)
	if err != nil || !stored.Revoked {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	for name, c := range map[string]struct {
		id, by, reason string
		want           error
	}{
		"unknown":    {"dev-aaaaaaaaaaaaaaaa", "admin", "", ErrNotFound},
		"not an id":  {"../etc", "admin", "", ErrNotFound},
		"no revoker": {id, "", "", ErrInvalid},
		"bad reason": {id, "admin", "a\x00b", ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := n.reg.Revoke(ctx, c.id, c.by, c.reason)
			checkErr(t, err, c.want)
		})
	}
}

// twoNodes checks what the change feed must carry from node a to node b:
// an enrollment, a report, a revocation (of the device and of its
// certificate).
func twoNodes(t *testing.T, a, b *node) {
	t.Helper()
	run(t, a.reg.Run)
	run(t, b.reg.Run)
	run(t, b.ca.Run)
	ctx := context.Background()

	e, key := a.enroll(t)
	id := e.Device.ID
	waitFor(t, "the enrollment on the other node", func() bool {
		_, ok := b.reg.Lookup(id)
		return ok
	})
	var c authz.Context
	if !b.reg.Context(id, b.clock.Now(), &c) {
		t.Fatal("the other node gives the device no facts")
	}
	if v, _ := c.Lookup("zt:DeviceCompliant"); v.At(0) != "false" {
		t.Fatal("compliant before any report")
	}

	// Reported to b, believed on a.
	a.clock.Advance(time.Second)
	if _, err := b.reg.AcceptReport(ctx, a.signed(t, a.report(), key, e.Chain)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the report on the other node", func() bool {
		d := a.reg.AuditDevice(id, a.clock.Now())
		return d != nil && d.Compliant
	})
	// A report a accepted is a replay on b, and the other way round.
	a.clock.Advance(time.Second)
	jws := a.signed(t, a.report(), key, e.Chain)
	if _, err := a.reg.AcceptReport(ctx, jws); err != nil {
		t.Fatal(err)
	}
	_, err := b.reg.AcceptReport(ctx, jws)
	checkErr(t, err, ErrReplay)

	// Revoked on a, refused on b: the facts, the reports, the certificate.
	if _, err := a.reg.Revoke(ctx, id, "admin", "lost"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revocation on the other node", func() bool {
		return !b.reg.Context(id, b.clock.Now(), &authz.Context{}) && b.ca.Revoked(e.Chain[0].SerialNumber)
	})
	if _, err := b.ca.VerifySVID(e.Chain); err == nil {
		t.Fatal("the other node's CA accepts the revoked certificate")
	}
	a.clock.Advance(time.Second)
	_, err = b.reg.AcceptReport(ctx, a.signed(t, a.report(), key, e.Chain))
	checkErr(t, err, ErrRevoked)
}

func TestTwoNodesSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ztgate.db")
	kek, clock := newKEK(t), newFakeClock()
	a := newNode(t, openSQLite(t, path, "a"), kek, clock)
	b := newNode(t, openSQLite(t, path, "b"), kek, clock)
	twoNodes(t, a, b)
}

func TestTwoNodesPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	kek, clock := newKEK(t), newFakeClock()
	open := func(name string) store.Store {
		st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: sqlstore.Postgres, DSN: dsn, Node: name, Poll: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a := newNode(t, open("a"), kek, clock)
	b := newNode(t, open("b"), kek, clock)
	twoNodes(t, a, b)

	// The race a token must lose on PostgreSQL too: one token, two nodes,
	// one device.
	tok, _ := a.token(t)
	errs := make(chan error, 2)
	for _, n := range []*node{a, b} {
		go func() {
			_, err := n.reg.Enroll(context.Background(), EnrollRequest{Token: tok, CSR: newCSR(t, newP256(t))})
			errs <- err
		}()
	}
	var ok, refused int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		default:
			checkErr(t, err, ErrToken)
			refused++
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("%d enrollments and %d refusals with one token on two nodes", ok, refused)
	}
}

// TestLoadResync: a registry opened on a store with devices and reports
// holds them all; one that missed changes reloads them.
func TestLoadResync(t *testing.T) {
	n := newEnv(t)
	var ids []string
	for i := range 3 {
		e, key := n.enroll(t)
		ids = append(ids, e.Device.ID)
		if i > 0 {
			n.clock.Advance(time.Second)
			if _, err := n.reg.AcceptReport(context.Background(), n.signed(t, n.report(), key, e.Chain)); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg, err := Open(context.Background(), Config{Store: n.st, CA: n.ca, Clock: n.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		d, ok := reg.Lookup(id)
		if !ok || (d.Posture != nil) != (i > 0) {
			t.Errorf("device %d: %+v, %v", i, d, ok)
		}
	}
	// Unreadable records are skipped, not fatal.
	if _, err := store.Put(context.Background(), n.st, KindDevice, "dev-zzzzzzzzzzzzzzzz", []byte("{")); err != nil {
		t.Fatal(err)
	}
	if err := reg.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Lookup("dev-zzzzzzzzzzzzzzzz"); ok {
		t.Error("an unreadable record became a device")
	}
	if ds, err := reg.Devices(context.Background()); err != nil || len(ds) != 3 {
		t.Errorf("Devices = %d, %v", len(ds), err)
	}
}

func TestOpenConfig(t *testing.T) {
	n := newEnv(t)
	for name, c := range map[string]Config{
		"no store":           {CA: n.ca},
		"no ca":              {Store: n.st},
		"negative":           {Store: n.st, CA: n.ca, MaxPostureAge: -time.Second},
		"token ttl too long": {Store: n.st, CA: n.ca, TokenTTL: MaxTokenTTL + time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(context.Background(), c)
			checkErr(t, err, ErrConfig)
		})
	}
}
