package serve

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

// racedStore hides the check record from the first Get, as if another
// node sealed it between this node's Get and Create.
type racedStore struct {
	store.Store
	hidden bool
}

func (r *racedStore) Get(ctx context.Context, kind, key string) (store.Record, error) {
	if !r.hidden {
		r.hidden = true
		return store.Record{}, store.ErrNotFound
	}
	return r.Store.Get(ctx, kind, key)
}

func TestCheckKEK(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: sqlstore.SQLite, Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k1, _ := secret.GenerateKEK(rand.Reader)
	k2, _ := secret.GenerateKEK(rand.Reader)
	if err := checkKEK(ctx, s, k1); err != nil {
		t.Fatalf("first check seals: %v", err)
	}
	if err := checkKEK(ctx, s, k1); err != nil {
		t.Fatalf("same key: %v", err)
	}
	if err := checkKEK(ctx, s, k2); !errors.Is(err, secret.ErrWrongKey) {
		t.Fatalf("other key: %v, want ErrWrongKey", err)
	}
	if err := checkKEK(ctx, &racedStore{Store: s}, k1); err != nil {
		t.Fatalf("lost the race, same key: %v", err)
	}
	if err := checkKEK(ctx, &racedStore{Store: s}, k2); !errors.Is(err, secret.ErrWrongKey) {
		t.Fatalf("lost the race, other key: %v, want ErrWrongKey", err)
	}
}
