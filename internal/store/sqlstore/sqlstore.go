// Package sqlstore implements the state store on SQL databases: embedded
// SQLite (pure Go, no cgo) for one node, PostgreSQL for any number of nodes.
//
// Both backends share one schema shape and one code path; a dialect covers
// the differences. Writers serialize on a single counter row, which makes
// revisions follow commit order: the property the change feed relies on to
// never skip a change. PostgreSQL nodes wake each other with NOTIFY; a
// dedicated connection LISTENs and re-reads the change log after every
// reconnection, so notifications lost while the server was away cost
// nothing but latency.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/ztgate/ztgate/internal/store"
)

// Drivers.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// notifyChannel is the PostgreSQL channel that carries change wake-ups.
const notifyChannel = "ztgate_changes"

// Options select and tune a backend.
type Options struct {
	Driver         string        // SQLite or Postgres
	Path           string        // SQLite database file
	DSN            string        // PostgreSQL connection string
	Node           string        // recorded with every change this node writes
	MaxConns       int           // pool size; default 10
	BusyTimeout    time.Duration // SQLite lock wait; default 5s
	ConnectTimeout time.Duration // PostgreSQL dial limit; default 5s
	Poll           time.Duration // change-log poll interval; default 1s
	Log            *slog.Logger

	// migrateTo stops migrations at a version, for tests of upgrades.
	migrateTo int
}

// Store is a SQL-backed store.Store.
type Store struct {
	db   *sql.DB
	d    dialect
	node string
	log  *slog.Logger
	feed *store.Feed

	listenCfg *pgx.ConnConfig
	listening atomic.Bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the backend, migrates its schema to the latest version
// and starts following the change log. An unreachable server is reported as
// store.ErrUnavailable.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 10
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.Node == "" {
		o.Node, _ = os.Hostname()
	}
	s := &Store{node: o.Node, log: o.Log}
	var err error
	switch o.Driver {
	case SQLite, "":
		err = s.openSQLite(o)
	case Postgres:
		err = s.openPostgres(ctx, o)
	default:
		return nil, fmt.Errorf("unknown store driver %q", o.Driver)
	}
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, s.db, s.d, o.migrateTo); err != nil {
		s.db.Close()
		return nil, classify(err)
	}
	if o.migrateTo != 0 && o.migrateTo < SchemaVersion() {
		return s, nil // a partial schema for upgrade tests: no feed
	}
	s.feed, err = store.NewFeed(ctx, s, store.FeedOptions{
		Poll: o.Poll,
		OnError: func(err error) {
			s.log.Warn("change feed read failed", "err", err)
		},
	})
	if err != nil {
		s.db.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.feed.Run() }()
	if s.listenCfg != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.listen(lctx) }()
	}
	return s, nil
}

func (s *Store) openSQLite(o Options) error {
	if o.Path == "" {
		return errors.New("sqlite: no database path")
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	// Create the file owner-only before SQLite creates it with the umask.
	f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	q := []string{
		"_pragma=busy_timeout(" + strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10) + ")",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_pragma=foreign_keys(1)",
		"_txlock=immediate",
	}
	db, err := sql.Open("sqlite", "file:"+o.Path+"?"+strings.Join(q, "&"))
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(o.MaxConns)
	if err := db.Ping(); err != nil {
		db.Close()
		return fmt.Errorf("sqlite: open %s: %w", o.Path, err)
	}
	// The database holds sealed secrets and the change history: owner only.
	for _, p := range []string{o.Path, o.Path + "-wal", o.Path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			db.Close()
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	s.db, s.d = db, dialect{}
	return nil
}

func (s *Store) openPostgres(ctx context.Context, o Options) error {
	if o.DSN == "" {
		return errors.New("postgres: no connection string")
	}
	cfg, err := pgx.ParseConfig(o.DSN)
	if err != nil {
		// pgx's parse errors can quote the connection string: say only
		// that it is malformed.
		return errors.New("postgres: invalid connection string")
	}
	cfg.ConnectTimeout = o.ConnectTimeout
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return fmt.Errorf("postgres: connect to %s: %w", describe(cfg), classify(err))
	}
	s.db, s.d = db, dialect{postgres: true}
	s.listenCfg = cfg.Copy()
	// Named so operators (and tests) can tell it in pg_stat_activity.
	s.listenCfg.RuntimeParams["application_name"] = "ztgate-listener " + o.Node
	return nil
}

// describe names a PostgreSQL server without its password.
func describe(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Close stops the feed and closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.feed != nil {
			s.feed.Close()
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		err = s.db.Close()
	})
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return classify(err)
	}
	return nil
}

// Live reports whether the change feed is following the log: its last read
// succeeded and, on PostgreSQL, the notification listener is connected.
func (s *Store) Live() bool {
	if s.feed == nil || !s.feed.Live() {
		return false
	}
	return s.listenCfg == nil || s.listening.Load()
}

// Head returns the highest revision the change feed has read.
func (s *Store) Head() int64 { return s.feed.Head() }

// DB returns the database, for the few tables kept beside the store's
// records (the audit records of package audit/index).
func (s *Store) DB() *sql.DB { return s.db }

// Driver returns SQLite or Postgres.
func (s *Store) Driver() string {
	if s.d.postgres {
		return Postgres
	}
	return SQLite
}

// Watch follows the change log from revision after.
func (s *Store) Watch(after int64) *store.Subscription { return s.feed.Subscribe(after) }

// Get returns one record.
func (s *Store) Get(ctx context.Context, kind, key string) (store.Record, error) {
	return get(ctx, s.db, s.d, kind, key)
}

// List returns the records of kind whose key starts with prefix.
func (s *Store) List(ctx context.Context, kind, prefix string) ([]store.Record, error) {
	return list(ctx, s.db, s.d, kind, prefix)
}

// Revision returns the latest committed revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.db.QueryRowContext(ctx, `SELECT revision FROM ztgate_meta WHERE id = 1`).Scan(&rev); err != nil {
		return 0, classify(err)
	}
	return rev, nil
}

// Changes returns up to limit changes above revision after.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(
		`SELECT revision, kind, key, op, node, at_us FROM ztgate_changes WHERE revision > ? ORDER BY revision LIMIT ?`),
		after, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var c store.Change
		var op string
		var at int64
		if err := rows.Scan(&c.Revision, &c.Kind, &c.Key, &op, &c.Node, &at); err != nil {
			return nil, classify(err)
		}
		c.Op, c.Time = store.Op(op), time.UnixMicro(at).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	// Read the prune mark after the changes: a prune that raced with the
	// read above is seen here, so a gap is never returned as complete.
	var pruned int64
	if err := s.db.QueryRowContext(ctx, `SELECT pruned FROM ztgate_meta WHERE id = 1`).Scan(&pruned); err != nil {
		return nil, classify(err)
	}
	if after < pruned {
		return nil, fmt.Errorf("%w: wanted changes after %d, log starts after %d", store.ErrResync, after, pruned)
	}
	return out, nil
}

// Prune drops change-log entries at or below revision through.
func (s *Store) Prune(ctx context.Context, through int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE ztgate_meta SET pruned = ? WHERE id = 1 AND pruned < ?`), through, through); err != nil {
		return classify(err)
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM ztgate_changes WHERE revision <= ?`), through); err != nil {
		return classify(err)
	}
	return classify(tx.Commit())
}

// Update runs fn in a transaction.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	sqltx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, classify(err)
	}
	t := &tx{s: s, tx: sqltx}
	committed := false
	defer func() {
		if !committed {
			sqltx.Rollback() //nolint:errcheck
		}
	}()
	if err := fn(t); err != nil {
		return 0, err
	}
	if t.rev != 0 && s.d.postgres {
		// Delivered by the server only if and when the transaction commits.
		if _, err := sqltx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, strconv.FormatInt(t.rev, 10)); err != nil {
			return 0, classify(err)
		}
	}
	if err := sqltx.Commit(); err != nil {
		return 0, classify(err)
	}
	committed = true
	if t.rev != 0 && s.feed != nil {
		s.feed.Wake()
	}
	return t.rev, nil
}

// listen keeps a dedicated connection LISTENing for change wake-ups,
// reconnecting with backoff; after each (re)connection it wakes the feed to
// re-read the log, which recovers notifications sent while it was away.
func (s *Store) listen(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, s.listenCfg)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
				conn.Close(context.Background())
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("change listener cannot connect; retrying", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		s.listening.Store(true)
		s.feed.Wake()
		for {
			if _, err = conn.WaitForNotification(ctx); err != nil {
				break
			}
			s.feed.Wake()
		}
		s.listening.Store(false)
		conn.Close(context.Background())
		if ctx.Err() == nil {
			s.log.Warn("change listener lost its connection; reconnecting", "err", err)
		}
	}
}

// classify marks errors that mean the server is unreachable.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.As(err, &netErr), errors.As(err, &connErr), pgconn.SafeToRetry(err):
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// querier is what reads need: a database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func get(ctx context.Context, q querier, d dialect, kind, key string) (store.Record, error) {
	if err := store.CheckName(kind, key); err != nil {
		return store.Record{}, err
	}
	r := store.Record{Kind: kind, Key: key}
	var c, u int64
	err := q.QueryRowContext(ctx, d.rebind(`SELECT value, revision, created_us, updated_us FROM ztgate_records WHERE kind = ? AND key = ?`),
		kind, key).Scan(&r.Value, &r.Revision, &c, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, fmt.Errorf("%s %q: %w", kind, key, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, classify(err)
	}
	r.Created, r.Updated = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
	return r, nil
}

func list(ctx context.Context, q querier, d dialect, kind, prefix string) ([]store.Record, error) {
	if err := store.CheckName(kind, "x"+prefix); err != nil {
		return nil, err
	}
	// substr, not LIKE: LIKE is case-insensitive in SQLite and its
	// wildcards would need escaping.
	rows, err := q.QueryContext(ctx, d.rebind(
		`SELECT key, value, revision, created_us, updated_us FROM ztgate_records WHERE kind = ? AND substr(key, 1, ?) = ?`),
		kind, len([]rune(prefix)), prefix)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		r := store.Record{Kind: kind}
		var c, u int64
		if err := rows.Scan(&r.Key, &r.Value, &r.Revision, &c, &u); err != nil {
			return nil, classify(err)
		}
		r.Created, r.Updated = time.UnixMicro(c).UTC(), time.UnixMicro(u).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	// Byte order whatever the database's collation.
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// tx is one write transaction.
type tx struct {
	s   *Store
	tx  *sql.Tx
	rev int64
}

var _ store.Tx = (*tx)(nil)

func (t *tx) Get(ctx context.Context, kind, key string) (store.Record, error) {
	return get(ctx, t.tx, t.s.d, kind, key)
}

func (t *tx) List(ctx context.Context, kind, prefix string) ([]store.Record, error) {
	return list(ctx, t.tx, t.s.d, kind, prefix)
}

// next takes the next revision. The counter row stays locked until the
// transaction ends, so revisions are handed out in commit order.
func (t *tx) next(ctx context.Context) (int64, error) {
	var rev int64
	if err := t.tx.QueryRowContext(ctx, `UPDATE ztgate_meta SET revision = revision + 1 WHERE id = 1 RETURNING revision`).Scan(&rev); err != nil {
		return 0, classify(err)
	}
	return rev, nil
}

func (t *tx) record(ctx context.Context, rev int64, kind, key string, op store.Op, now int64) error {
	_, err := t.tx.ExecContext(ctx, t.s.d.rebind(`INSERT INTO ztgate_changes (revision, kind, key, op, node, at_us) VALUES (?, ?, ?, ?, ?, ?)`),
		rev, kind, key, string(op), t.s.node, now)
	if err != nil {
		return classify(err)
	}
	t.rev = rev
	return nil
}

func (t *tx) write(ctx context.Context, kind, key string, value []byte, query func(rev, now int64) (sql.Result, error), none func() error) (int64, error) {
	if err := store.CheckName(kind, key); err != nil {
		return 0, err
	}
	if err := store.CheckValue(value); err != nil {
		return 0, err
	}
	rev, err := t.next(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now().UnixMicro()
	res, err := query(rev, now)
	if err != nil {
		return 0, classify(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, classify(err)
	} else if n == 0 {
		return 0, none()
	}
	op := store.OpPut
	if value == nil {
		op = store.OpDelete
	}
	if err := t.record(ctx, rev, kind, key, op, now); err != nil {
		return 0, err
	}
	return rev, nil
}

func (t *tx) Put(ctx context.Context, kind, key string, value []byte) (int64, error) {
	value = nonNil(value)
	return t.write(ctx, kind, key, value, func(rev, now int64) (sql.Result, error) {
		return t.tx.ExecContext(ctx, t.s.d.rebind(`INSERT INTO ztgate_records (kind, key, value, revision, created_us, updated_us)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated_us = excluded.updated_us`),
			kind, key, value, rev, now, now)
	}, nil)
}

func (t *tx) Create(ctx context.Context, kind, key string, value []byte) (int64, error) {
	value = nonNil(value)
	return t.write(ctx, kind, key, value, func(rev, now int64) (sql.Result, error) {
		return t.tx.ExecContext(ctx, t.s.d.rebind(`INSERT INTO ztgate_records (kind, key, value, revision, created_us, updated_us)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING`),
			kind, key, value, rev, now, now)
	}, func() error {
		return fmt.Errorf("%s %q: %w", kind, key, store.ErrExists)
	})
}

func (t *tx) Replace(ctx context.Context, kind, key string, value []byte, expected int64) (int64, error) {
	value = nonNil(value)
	return t.write(ctx, kind, key, value, func(rev, now int64) (sql.Result, error) {
		return t.tx.ExecContext(ctx, t.s.d.rebind(`UPDATE ztgate_records SET value = ?, revision = ?, updated_us = ?
			WHERE kind = ? AND key = ? AND revision = ?`),
			value, rev, now, kind, key, expected)
	}, func() error {
		if _, err := t.Get(ctx, kind, key); err != nil {
			return err
		}
		return fmt.Errorf("%s %q: expected revision %d: %w", kind, key, expected, store.ErrConflict)
	})
}

func (t *tx) Delete(ctx context.Context, kind, key string) (int64, error) {
	return t.write(ctx, kind, key, nil, func(rev, now int64) (sql.Result, error) {
		return t.tx.ExecContext(ctx, t.s.d.rebind(`DELETE FROM ztgate_records WHERE kind = ? AND key = ?`), kind, key)
	}, func() error {
		return fmt.Errorf("%s %q: %w", kind, key, store.ErrNotFound)
	})
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// dialect holds what differs between the SQL backends.
type dialect struct{ postgres bool }

// rebind turns ? placeholders into PostgreSQL's $n.
func (d dialect) rebind(q string) string {
	if !d.postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
