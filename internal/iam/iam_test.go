package iam

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"github.com/ztgate/ztgate/internal/pgtest"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/sigv4"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

func newDirectory(t *testing.T) (*Directory, store.Store, *secret.KEK) {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: sqlstore.SQLite, Path: filepath.Join(t.TempDir(), "ztgate.db"), Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{Store: st, KEK: kek, Account: "111122223333"}), st, kek
}

var (
	userID   = regexp.MustCompile(`^AIDA[A-Z2-7]{16}$`)
	keyID    = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	secretRE = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	d, _, _ := newDirectory(t)
	u, err := d.CreateUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !userID.MatchString(u.ID) || u.ARN() != "arn:zt:iam::111122223333:user/alice" || u.Account != "111122223333" {
		t.Fatalf("user: %+v %s", u, u.ARN())
	}
	got, err := d.GetUser(ctx, "alice")
	if err != nil || got.ID != u.ID || !got.Created.Equal(u.Created) {
		t.Fatalf("GetUser: %+v %v", got, err)
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"alice", ErrEntityExists},
		{"", ErrInvalidInput},
		{"has space", ErrInvalidInput},
		{string(make([]byte, 65)), ErrInvalidInput},
	} {
		if _, err := d.CreateUser(ctx, tc.name); !errors.Is(err, tc.err) {
			t.Errorf("CreateUser(%q): %v, want %v", tc.name, err, tc.err)
		}
	}
	if _, err := d.GetUser(ctx, "bob"); !errors.Is(err, ErrNoSuchEntity) {
		t.Errorf("GetUser(bob): %v", err)
	}
	if New(Config{}).Account() != DefaultAccount {
		t.Error("the default account is not DefaultAccount")
	}
}

func TestAccessKeys(t *testing.T) {
	ctx := context.Background()
	d, st, _ := newDirectory(t)
	if _, _, err := d.CreateAccessKey(ctx, "nobody"); !errors.Is(err, ErrNoSuchEntity) {
		t.Fatalf("key for a missing user: %v", err)
	}
	if _, err := d.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	k, sec, err := d.CreateAccessKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !keyID.MatchString(k.ID) || !secretRE.MatchString(sec.Reveal()) || k.Status != Active || k.User != "alice" {
		t.Fatalf("key %+v, secret of %d characters", k, len(sec.Reveal()))
	}
	// The secret is stored sealed only.
	rec, err := st.Get(ctx, KindAccessKey, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.Value, []byte(sec.Reveal())) {
		t.Fatal("the secret is stored in plain text")
	}
	c, err := d.Lookup(ctx, k.ID)
	if err != nil || c.AccessKeyID != k.ID || c.Secret.Reveal() != sec.Reveal() || c.SessionToken != "" {
		t.Fatalf("Lookup: %+v %v", c, err)
	}
	if u, err := d.UserOfKey(ctx, k.ID); err != nil || u.Name != "alice" {
		t.Fatalf("UserOfKey: %+v %v", u, err)
	}

	if _, err := d.Lookup(ctx, "AKIAAAAAAAAAAAAAAAAA"); !errors.Is(err, sigv4.ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
	if err := d.SetAccessKeyStatus(ctx, k.ID, Inactive); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup(ctx, k.ID); !errors.Is(err, sigv4.ErrKeyDisabled) {
		t.Errorf("inactive key: %v", err)
	}
	if err := d.SetAccessKeyStatus(ctx, k.ID, Active); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup(ctx, k.ID); err != nil {
		t.Errorf("reactivated key: %v", err)
	}
	if err := d.SetAccessKeyStatus(ctx, k.ID, "Maybe"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("bad status: %v", err)
	}

	// A sealed secret is bound to its key id: copied into another key's
	// record, it does not open.
	k2, _, err := d.CreateAccessKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var r1, r2 keyRecord
	rec2, _ := st.Get(ctx, KindAccessKey, k2.ID)
	if json.Unmarshal(rec.Value, &r1) != nil || json.Unmarshal(rec2.Value, &r2) != nil {
		t.Fatal("stored keys are not JSON")
	}
	r2.Sealed = r1.Sealed
	v, _ := json.Marshal(r2)
	if _, err := store.Put(ctx, st, KindAccessKey, k2.ID, v); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup(ctx, k2.ID); !errors.Is(err, secret.ErrCorrupt) || errors.Is(err, sigv4.ErrUnknownKey) {
		t.Errorf("moved secret: %v", err)
	}

	// Another key-encryption key cannot open it.
	other, _ := secret.GenerateKEK(rand.Reader)
	if _, err := New(Config{Store: st, KEK: other}).Lookup(ctx, k.ID); !errors.Is(err, secret.ErrWrongKey) {
		t.Errorf("wrong KEK: %v", err)
	}
}

func TestMain(m *testing.M) { pgtest.Main(m) }
