// Package index is the query store of the audit trail: an embedded SQLite
// database beside the segment files, holding each record with the fields
// queries filter on, indexed so that "the last 100 records of this
// principal" stays fast among millions. It is derived data: it is filled
// by reading the segments incrementally (each segment from the offset last
// indexed), can be deleted and rebuilt at any time, and is never the
// evidence: "ztgate audit verify" checks the segments themselves.
//
// On PostgreSQL deployments each node also ships its indexed records to a
// [Table] in the store's database, so that a query there sees every
// node's; [Querier] is what both answer.
package index

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/ztgate/ztgate/internal/audit"
)

// FileName is the index database inside the audit directory.
const FileName = "index.db"

// Index is an open query store.
type Index struct {
	db  *sql.DB
	dir string // the audit directory (DATA_DIR/audit)
}

const schema = `
CREATE TABLE IF NOT EXISTS records (
	node TEXT NOT NULL,
	seq INTEGER NOT NULL,
	time_us INTEGER NOT NULL,
	principal TEXT NOT NULL,
	action TEXT NOT NULL,
	resource TEXT NOT NULL,
	decision TEXT NOT NULL,
	source_ip TEXT NOT NULL,
	device TEXT NOT NULL,
	error_code TEXT NOT NULL,
	event_id TEXT NOT NULL,
	record BLOB NOT NULL,
	PRIMARY KEY (node, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_time ON records (time_us);
CREATE INDEX IF NOT EXISTS records_principal ON records (principal, time_us);
CREATE INDEX IF NOT EXISTS records_action ON records (action, time_us);
CREATE INDEX IF NOT EXISTS records_resource ON records (resource, time_us);
CREATE INDEX IF NOT EXISTS records_decision ON records (decision, time_us);
CREATE INDEX IF NOT EXISTS records_source_ip ON records (source_ip, time_us);
CREATE INDEX IF NOT EXISTS records_device ON records (device, time_us);
CREATE INDEX IF NOT EXISTS records_error_code ON records (error_code, time_us);
CREATE TABLE IF NOT EXISTS pruned (
	node TEXT NOT NULL PRIMARY KEY,
	through INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS progress (
	node TEXT NOT NULL,
	segment TEXT NOT NULL,
	offset INTEGER NOT NULL,
	PRIMARY KEY (node, segment)
);`

// Open opens (creating if needed) the index of the audit directory dir.
func Open(dir string) (*Index, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	f.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit index: %w", err)
	}
	return &Index{db: db, dir: dir}, nil
}

// Close closes the index.
func (x *Index) Close() error { return x.db.Close() }

// Row is the indexed form of one record.
type Row struct {
	Node      string
	Seq       uint64
	Time      time.Time
	Principal string
	Action    string
	Resource  string
	Decision  string
	SourceIP  string
	Device    string
	ErrorCode string
	EventID   string
	Record    json.RawMessage
}

// RowOf extracts the queried fields of a record.
func RowOf(node string, seq uint64, raw json.RawMessage) (Row, error) {
	var r audit.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Row{}, err
	}
	row := Row{Node: node, Seq: seq, Time: r.EventTime, Principal: r.UserIdentity.ARN, Action: r.EventName,
		SourceIP: r.SourceIPAddress, ErrorCode: r.ErrorCode, EventID: r.EventID, Record: raw}
	if len(r.Resources) > 0 {
		row.Resource = r.Resources[0].ARN
	}
	if z := r.ZTGate; z != nil {
		row.Decision = z.Decision
		if z.Action != "" {
			row.Action = z.Action
		}
		if z.Device != nil {
			row.Device = z.Device.ID
		}
	}
	return row, nil
}

// Add inserts rows in one transaction; rows already present are kept.
func (x *Index) Add(ctx context.Context, rows []Row) error {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	if err := insert(ctx, tx, rows); err != nil {
		return err
	}
	return tx.Commit()
}

func insert(ctx context.Context, tx *sql.Tx, rows []Row) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO records
		(node, seq, time_us, principal, action, resource, decision, source_ip, device, error_code, event_id, record)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r.Node, int64(r.Seq), r.Time.UnixMicro(), r.Principal, r.Action, r.Resource,
			r.Decision, r.SourceIP, r.Device, r.ErrorCode, r.EventID, []byte(r.Record)); err != nil {
			return err
		}
	}
	return nil
}

// Progress reports indexing work: records indexed so far.
type Progress func(records int64)

// Update indexes every whole line written to the segments since the last
// Update. A line still being written (no newline yet) waits for the next.
func (x *Index) Update(ctx context.Context, progress Progress) (int64, error) {
	nodes, err := os.ReadDir(x.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	var total int64
	for _, n := range nodes {
		segDir := filepath.Join(x.dir, n.Name(), "segments")
		if !n.IsDir() {
			continue
		}
		if err := x.prune(ctx, n.Name(), filepath.Join(x.dir, n.Name())); err != nil {
			return total, err
		}
		segs, err := filepath.Glob(filepath.Join(segDir, "*.jsonl"))
		if err != nil || len(segs) == 0 {
			continue
		}
		sort.Strings(segs)
		for _, seg := range segs {
			k, err := x.updateSegment(ctx, n.Name(), seg, total, progress)
			total += k
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// prune drops what retention removed from a node's log: its records up
// to the retention marker's sequence number, and the progress of segments
// that are gone. The query store keeps no record the log no longer holds.
func (x *Index) prune(ctx context.Context, node, nodeDir string) error {
	through, err := audit.PrunedThrough(nodeDir)
	if err != nil {
		return fmt.Errorf("audit index: %s: %w", node, err)
	}
	if through == 0 {
		return nil
	}
	var done int64
	err = x.db.QueryRowContext(ctx, `SELECT through FROM pruned WHERE node = ?`, node).Scan(&done)
	if err == nil && uint64(done) >= through {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE node = ? AND seq <= ?`, node, int64(through)); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT segment FROM progress WHERE node = ?`, node)
	if err != nil {
		return err
	}
	var gone []string
	for rows.Next() {
		var seg string
		if err := rows.Scan(&seg); err != nil {
			rows.Close()
			return err
		}
		if _, err := os.Stat(filepath.Join(nodeDir, "segments", seg)); errors.Is(err, os.ErrNotExist) {
			gone = append(gone, seg)
		}
	}
	rows.Close()
	for _, seg := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM progress WHERE node = ? AND segment = ?`, node, seg); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pruned (node, through) VALUES (?, ?) ON CONFLICT (node) DO UPDATE SET through = excluded.through`, node, int64(through)); err != nil {
		return err
	}
	return tx.Commit()
}

// prunedThrough is what retention removed from node, as the index knows.
func (x *Index) prunedThrough(ctx context.Context, node string) (int64, error) {
	var through int64
	err := x.db.QueryRowContext(ctx, `SELECT through FROM pruned WHERE node = ?`, node).Scan(&through)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return through, err
}

// batchSize bounds the rows inserted per transaction.
const batchSize = 5000

func (x *Index) updateSegment(ctx context.Context, node, seg string, done int64, progress Progress) (int64, error) {
	name := filepath.Base(seg)
	var offset int64
	err := x.db.QueryRowContext(ctx, `SELECT offset FROM progress WHERE node = ? AND segment = ?`, node, name).Scan(&offset)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	f, err := os.Open(seg)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() <= offset {
		return 0, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var n int64
	rows := make([]Row, 0, batchSize)
	flush := func() error {
		tx, err := x.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck
		if err := insert(ctx, tx, rows); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO progress (node, segment, offset) VALUES (?, ?, ?)
			ON CONFLICT (node, segment) DO UPDATE SET offset = excluded.offset`, node, name, offset); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		n += int64(len(rows))
		rows = rows[:0]
		if progress != nil {
			progress(done + n)
		}
		return nil
	}
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			break // a partial last line waits for the next update
		}
		if err != nil {
			return n, err
		}
		var l struct {
			Seq    uint64          `json:"seq"`
			Record json.RawMessage `json:"record"`
		}
		if json.Unmarshal(line, &l) == nil && len(l.Record) > 0 {
			if row, err := RowOf(node, l.Seq, l.Record); err == nil {
				rows = append(rows, row)
			}
		}
		// Lines that do not parse are skipped here; verify reports them.
		offset += int64(len(line))
		if len(rows) == batchSize {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, err
	}
	return n, nil
}

// Filter selects records. Empty fields do not filter.
type Filter struct {
	From, To  time.Time
	Principal string
	Action    string
	Resource  string
	Decision  string
	SourceIP  string
	Device    string
	ErrorCode string
	Node      string
	Limit     int  // default 100
	Ascending bool // oldest first; default newest first
}

// Querier finds records: the local Index, or the Table of a PostgreSQL
// store holding every node's.
type Querier interface {
	Query(ctx context.Context, f Filter) ([]Row, error)
}

var (
	_ Querier = (*Index)(nil)
	_ Querier = (*Table)(nil)
)

// Query returns the records matching f, newest first unless f.Ascending.
func (x *Index) Query(ctx context.Context, f Filter) ([]Row, error) {
	return query(ctx, x.db, "records", false, f)
}

// query runs f on table, which has the columns of records; postgres
// numbers the placeholders.
func query(ctx context.Context, db *sql.DB, table string, postgres bool, f Filter) ([]Row, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		if postgres {
			return "$" + strconv.Itoa(len(args))
		}
		return "?"
	}
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = "+arg(v))
		}
	}
	eq("principal", f.Principal)
	eq("action", f.Action)
	eq("resource", f.Resource)
	eq("decision", f.Decision)
	eq("source_ip", f.SourceIP)
	eq("device", f.Device)
	eq("error_code", f.ErrorCode)
	eq("node", f.Node)
	if !f.From.IsZero() {
		where = append(where, "time_us >= "+arg(f.From.UnixMicro()))
	}
	if !f.To.IsZero() {
		where = append(where, "time_us < "+arg(f.To.UnixMicro()))
	}
	q := `SELECT node, seq, time_us, principal, action, resource, decision, source_ip, device, error_code, event_id, record FROM ` + table
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	order := "DESC"
	if f.Ascending {
		order = "ASC"
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY time_us " + order + ", node " + order + ", seq " + order + " LIMIT " + arg(limit)
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanRows(rows)
}

// scanRows reads rows of the columns query selects.
func scanRows(rows *sql.Rows) ([]Row, error) {
	var out []Row
	for rows.Next() {
		var r Row
		var seq, us int64
		var rec []byte
		if err := rows.Scan(&r.Node, &seq, &us, &r.Principal, &r.Action, &r.Resource, &r.Decision, &r.SourceIP, &r.Device, &r.ErrorCode, &r.EventID, &rec); err != nil {
			return nil, err
		}
		r.Seq, r.Time, r.Record = uint64(seq), time.UnixMicro(us).UTC(), rec
		out = append(out, r)
	}
	return out, rows.Err()
}

// Count returns the number of indexed records.
func (x *Index) Count(ctx context.Context) (int64, error) {
	var n int64
	err := x.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records`).Scan(&n)
	return n, err
}
