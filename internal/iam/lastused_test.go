package iam

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// TestKeyUse: a key's last use is recorded at most once per
// KeyUseInterval per node, read back with its service and region, and
// goes with the key.
func TestKeyUse(t *testing.T) {
	ctx := context.Background()
	d, st, _ := newDirectory(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d.clock = func() time.Time { return now }
	if _, err := d.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	k, _, err := d.CreateAccessKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	user, use, err := d.AccessKeyLastUsed(ctx, k.ID)
	if err != nil || user != "alice" || use != nil {
		t.Fatalf("never used: %q %+v %v", user, use, err)
	}

	d.RecordKeyUse(ctx, k.ID, "sts", "us-east-1")
	_, use, err = d.AccessKeyLastUsed(ctx, k.ID)
	if err != nil || use == nil || !use.Date.Equal(now) || use.Service != "sts" || use.Region != "us-east-1" {
		t.Fatalf("first use: %+v %v", use, err)
	}
	rev, _ := st.Revision(ctx)

	// Within the interval nothing is written.
	now = now.Add(KeyUseInterval - time.Second)
	d.RecordKeyUse(ctx, k.ID, "iam", "eu-west-1")
	if r, _ := st.Revision(ctx); r != rev {
		t.Errorf("a use within the interval was written: revision %d to %d", rev, r)
	}
	// After the interval the use is recorded again.
	now = now.Add(2 * KeyUseInterval)
	d.RecordKeyUse(ctx, k.ID, "iam", "eu-west-1")
	_, use, _ = d.AccessKeyLastUsed(ctx, k.ID)
	if use == nil || !use.Date.Equal(now) || use.Service != "iam" || use.Region != "eu-west-1" {
		t.Fatalf("after the interval: %+v", use)
	}

	// Another node (a second Directory on the same store) records its
	// own first use at once.
	d2 := New(Config{Store: st, KEK: d.kek, Account: d.account, Clock: func() time.Time { return now.Add(time.Minute) }})
	d2.RecordKeyUse(ctx, k.ID, "execute-api", "us-west-2")
	if _, use, _ = d.AccessKeyLastUsed(ctx, k.ID); use == nil || use.Service != "execute-api" {
		t.Fatalf("second node: %+v", use)
	}

	// Deleting the key deletes its use; a use racing the deletion
	// leaves nothing behind.
	if err := d.DeleteAccessKey(ctx, "alice", k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, KindKeyUse, k.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the use outlived its key: %v", err)
	}
	now = now.Add(2 * KeyUseInterval)
	d.RecordKeyUse(ctx, k.ID, "sts", "us-east-1")
	if _, err := st.Get(ctx, KindKeyUse, k.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted key's use was recorded: %v", err)
	}
	if _, _, err := d.AccessKeyLastUsed(ctx, k.ID); !errors.Is(err, ErrNoSuchEntity) {
		t.Errorf("deleted key: %v", err)
	}
}
