package device

import (
	"bytes"
	"context"
	"errors"
	"github.com/ztgate/ztgate/internal/testkit"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/pki"
)

// dirFiles reads the files of an enrolled device's directory, and fails
// unless each is mode 0600.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", e.Name(), fi.Mode())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func mustLoad(t *testing.T, dir string) *localDevice {
	t.Helper()
	ld, err := loadDevice(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

// TestRenewDir: a device's directory is renewed past half-life and not
// before, in place; a renewal whose answer was lost, or that stopped
// after writing the chain, is completed.
func TestRenewDir(t *testing.T) {
	n := newEnv(t)
	mem := &audit.Memory{Clock: n.clock.Now}
	srv := n.server(t, mem)
	ctx := context.Background()
	tok, _ := n.token(t)
	dir := filepath.Join(t.TempDir(), "device")
	if out, err := runCommand(t, "", "enroll", "--server", srv.URL, "--ca-file", caFile(t, srv), "--token", tok, "--out", dir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	o := RenewOptions{Dir: dir, Clock: n.clock.Now, HTTPClient: srv.Client()}
	enrolled := dirFiles(t, dir)
	first := mustLoad(t, dir)
	id := first.state.DeviceID

	// Before half-life: nothing sent, nothing written.
	half := halfLife(first.chain[0])
	n.clock.Advance(half.Sub(n.clock.Now()) - time.Second)
	renewed, notAfter, err := RenewDir(ctx, o)
	if err != nil || renewed || !notAfter.Equal(first.chain[0].NotAfter) {
		t.Fatalf("before half-life: %v, %v, %v", renewed, notAfter, err)
	}
	if mustJSON(t, dirFiles(t, dir)) != mustJSON(t, enrolled) || len(auditRecords(mem, EventRenew)) != 0 {
		t.Fatal("a renewal before half-life did something")
	}

	// At half-life: a new key and certificate, in place.
	n.clock.Advance(time.Second)
	renewed, notAfter, err = RenewDir(ctx, o)
	if err != nil || !renewed || !notAfter.Equal(n.clock.Now().Add(DefaultCertTTL)) {
		t.Fatalf("at half-life: %v, %v, %v", renewed, notAfter, err)
	}
	files := dirFiles(t, dir)
	second := mustLoad(t, dir)
	switch {
	case len(files) != len(enrolled) || files[PendingKeyFile] != nil:
		t.Errorf("files %v", fileNames(files))
	case !bytes.Equal(files[StateFile], enrolled[StateFile]):
		t.Error("the state file changed")
	case bytes.Equal(files[KeyFile], enrolled[KeyFile]) || sameKey(second.key.Public(), first.key.Public()):
		t.Error("the key did not change")
	case !second.chain[0].NotAfter.Equal(notAfter) || second.chain[0].Equal(first.chain[0]):
		t.Error("the certificate did not change")
	}
	if d, _ := n.reg.Device(ctx, id); len(d.Certificates) != 2 || d.Certificates[1].Serial != serialHex(second.chain[0]) {
		t.Errorf("device %+v", d)
	}

	// A young certificate renews only when forced.
	n.clock.Advance(time.Hour)
	if renewed, _, err := RenewDir(ctx, o); err != nil || renewed {
		t.Fatalf("young certificate: %v, %v", renewed, err)
	}
	o.Force = true
	if renewed, _, err := RenewDir(ctx, o); err != nil || !renewed {
		t.Fatalf("forced: %v, %v", renewed, err)
	}
	o.Force = false

	// The answer is lost: the server issued, the device wrote nothing but
	// its pending key. It sends again, from its old certificate, and gets
	// the chain already issued.
	cur := mustLoad(t, dir)
	pending := newP256(t)
	if err := writeKey(filepath.Join(dir, PendingKeyFile), pending); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Second)
	lost, err := renewAt(ctx, srv.URL, srv.Client(), cur.key, cur.chain, pending, n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	certs := len(records(t, n.st, pki.KindCert))
	n.clock.Advance(time.Second)
	o.Force = true
	if renewed, _, err := RenewDir(ctx, o); err != nil || !renewed {
		t.Fatalf("after a lost answer: %v, %v", renewed, err)
	}
	o.Force = false
	got := mustLoad(t, dir)
	if !got.chain[0].Equal(lost[0]) || !sameKey(got.key.Public(), pending.Public()) || len(records(t, n.st, pki.KindCert)) != certs {
		t.Fatal("the lost renewal was not completed with the chain already issued")
	}
	if _, err := os.Stat(filepath.Join(dir, PendingKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pending key left: %v", err)
	}

	// Stopped after writing the chain: the next reader makes the pending
	// key the key.
	pending2 := newP256(t)
	if err := writeKey(filepath.Join(dir, PendingKeyFile), pending2); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Second)
	next, err := renewAt(ctx, srv.URL, srv.Client(), got.key, got.chain, pending2, n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := datadir.WriteFile(filepath.Join(dir, CertFile), []byte(chainPEM(next)), 0o600); err != nil {
		t.Fatal(err)
	}
	if renewed, notAfter, err := RenewDir(ctx, o); err != nil || renewed || !notAfter.Equal(next[0].NotAfter) {
		t.Fatalf("after a renewal cut short: %v, %v, %v", renewed, notAfter, err)
	}
	if ld := mustLoad(t, dir); !sameKey(ld.key.Public(), pending2.Public()) || len(dirFiles(t, dir)) != len(enrolled) {
		t.Fatal("the renewal cut short was not completed")
	}

	// Refused: the directory keeps its key and chain.
	before := dirFiles(t, dir)
	if _, err := n.reg.Revoke(ctx, id, "admin", "lost"); err != nil {
		t.Fatal(err)
	}
	o.Force = true
	n.clock.Advance(time.Second)
	if _, _, err := RenewDir(ctx, o); apiCode(err) != "DeviceRevoked" {
		t.Fatalf("revoked: %v", err)
	}
	after := dirFiles(t, dir)
	if !bytes.Equal(after[KeyFile], before[KeyFile]) || !bytes.Equal(after[CertFile], before[CertFile]) {
		t.Error("a refused renewal changed the key or chain")
	}
}

func fileNames(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRenewCommand runs "ztgate device renew" against a server on the
// real clock, which the command signs with.
func TestRenewCommand(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	n := newNode(t, openSQLite(t, filepath.Join(t.TempDir(), "z.db"), "t"), newKEK(t), clock)
	mem := &audit.Memory{}
	srv := n.server(t, mem)
	tok, _ := n.token(t)
	dir := filepath.Join(t.TempDir(), "device")
	if out, err := runCommand(t, "", "enroll", "--server", srv.URL, "--ca-file", caFile(t, srv), "--token", tok, "--out", dir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	enrolled := mustLoad(t, dir)

	renewed, notAfter, err := RenewIn(context.Background(), dir, "", "")
	if err != nil || renewed || !notAfter.Equal(enrolled.chain[0].NotAfter) {
		t.Fatalf("RenewIn a new certificate: %v, %v, %v", renewed, notAfter, err)
	}
	out, err := runCommand(t, "", "renew", "--dir", dir)
	if err != nil || !strings.Contains(out, "not renewed") {
		t.Fatalf("renew: %v\n%s", err, out)
	}
	out, err = runCommand(t, "", "renew", "--dir", dir, "--server", srv.URL, "--ca-file", caFile(t, srv), "--force")
	if err != nil || !strings.HasPrefix(out, "renewed") {
		t.Fatalf("renew --force: %v\n%s", err, out)
	}
	ld := mustLoad(t, dir)
	if sameKey(ld.key.Public(), enrolled.key.Public()) || ld.chain[0].Equal(enrolled.chain[0]) {
		t.Fatal("the directory holds the old key or certificate")
	}
	if d, _ := n.reg.Device(context.Background(), ld.state.DeviceID); len(d.Certificates) != 2 {
		t.Errorf("device %+v", d)
	}
	dirFiles(t, dir) // modes
	if _, err := runCommand(t, "", "renew"); err == nil || !strings.Contains(err.Error(), "dir") {
		t.Errorf("renew without --dir: %v", err)
	}
	if _, err := runCommand(t, "", "renew", "--dir", filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no enrolled device") {
		t.Errorf("renew of no device: %v", err)
	}
}
