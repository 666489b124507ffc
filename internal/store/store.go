// Package store defines the state store every ztgate component keeps its
// durable state in, and the change feed through which each node learns of
// writes made by any node.
//
// State is a set of records, each named by a kind ("policy", "revocation")
// and a key unique within its kind, holding an opaque value. Every write is
// given a revision from one counter shared by all nodes; revisions are
// assigned in commit order, so a reader that has seen revision N has seen
// every change up to N. Each write also appends a [Change] to a change log,
// which backs the [Feed]: nodes follow the log and are woken by the backend
// (in process for SQLite, LISTEN/NOTIFY for PostgreSQL), and re-read it after
// a lost connection so that no change is missed.
//
// Implementations live in store/sqlstore; store/storetest holds the one
// conformance suite they all pass.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Errors that classify store failures; test them with errors.Is.
var (
	// ErrNotFound: no record has that kind and key.
	ErrNotFound = errors.New("record not found")
	// ErrExists: Create found a record with that kind and key.
	ErrExists = errors.New("record already exists")
	// ErrConflict: the record's revision is not the one the caller expected.
	ErrConflict = errors.New("record was changed concurrently")
	// ErrUnavailable: the backend cannot be reached.
	ErrUnavailable = errors.New("store unavailable")
	// ErrResync: the change log no longer holds the changes after the
	// subscriber's position; the subscriber must reload state in full.
	ErrResync = errors.New("change history pruned; reload state")
	// ErrInvalid: a kind, key or value breaks the rules below.
	ErrInvalid = errors.New("invalid record")
	// ErrSchemaTooNew: the database was migrated by a newer ztgate.
	ErrSchemaTooNew = errors.New("database schema is newer than this ztgate")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// Limits on record names and values.
const (
	MaxKindLen  = 64
	MaxKeyLen   = 1024
	MaxValueLen = 16 << 20
)

// Op is the operation a change made.
type Op string

// The operations recorded in the change log.
const (
	OpPut    Op = "put"
	OpDelete Op = "delete"
)

// Record is one stored value.
type Record struct {
	Kind     string
	Key      string
	Value    []byte
	Revision int64 // revision of the write that produced this value
	Created  time.Time
	Updated  time.Time
}

// Change is one entry of the change log.
type Change struct {
	Revision int64     `json:"revision"`
	Kind     string    `json:"kind"`
	Key      string    `json:"key"`
	Op       Op        `json:"op"`
	Node     string    `json:"node"`
	Time     time.Time `json:"time"`
}

// Reader reads records.
type Reader interface {
	// Get returns the record, or ErrNotFound.
	Get(ctx context.Context, kind, key string) (Record, error)
	// List returns the records of kind whose key starts with prefix, in
	// byte order of their keys.
	List(ctx context.Context, kind, prefix string) ([]Record, error)
}

// Tx is a transaction: its writes are seen by others all at once, when the
// function given to Store.Update returns nil, or not at all.
type Tx interface {
	Reader
	// Put creates or replaces a record and returns the write's revision.
	Put(ctx context.Context, kind, key string, value []byte) (int64, error)
	// Create adds a record that must not exist yet (else ErrExists).
	Create(ctx context.Context, kind, key string, value []byte) (int64, error)
	// Replace writes a record only if its revision is still expected
	// (else ErrConflict, or ErrNotFound when it is gone).
	Replace(ctx context.Context, kind, key string, value []byte, expected int64) (int64, error)
	// Delete removes a record (else ErrNotFound).
	Delete(ctx context.Context, kind, key string) (int64, error)
}

// Store is a state backend.
type Store interface {
	Reader
	// Update runs fn in a transaction and commits it when fn returns nil.
	// It returns the revision of the transaction's last write (0 when it
	// wrote nothing).
	Update(ctx context.Context, fn func(Tx) error) (int64, error)
	// Changes returns up to limit changes with revisions above after, in
	// revision order, or ErrResync when some were pruned.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)
	// Revision returns the latest committed revision.
	Revision(ctx context.Context) (int64, error)
	// Prune drops change-log entries at or below revision through.
	Prune(ctx context.Context, through int64) error
	// Watch follows the change log from revision after.
	Watch(after int64) *Subscription
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases the backend.
	Close() error
}

// CheckName validates a record's kind and key.
func CheckName(kind, key string) error {
	if err := checkPart("kind", kind, MaxKindLen); err != nil {
		return err
	}
	return checkPart("key", key, MaxKeyLen)
}

// CheckValue validates a record's value.
func CheckValue(value []byte) error {
	if len(value) > MaxValueLen {
		return fmt.Errorf("%w: value of %d bytes exceeds %d", ErrInvalid, len(value), MaxValueLen)
	}
	return nil
}

func checkPart(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(s) > max:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalid, what)
		}
	}
	return nil
}

// Put writes one record in its own transaction.
func Put(ctx context.Context, s Store, kind, key string, value []byte) (int64, error) {
	return s.Update(ctx, func(tx Tx) error {
		_, err := tx.Put(ctx, kind, key, value)
		return err
	})
}

// Delete removes one record in its own transaction.
func Delete(ctx context.Context, s Store, kind, key string) (int64, error) {
	return s.Update(ctx, func(tx Tx) error {
		_, err := tx.Delete(ctx, kind, key)
		return err
	})
}
