// Package index is the query store of the audit trail: an embedded SQLite
// database beside the segment files, holding for each record the fields
// queries filter on and where the record is, indexed so that "the last
// 100 records of this principal" stays fast among millions. It is derived
// data: it is filled by reading the segments incrementally (each segment
// from the offset last indexed), can be deleted and rebuilt at any time,
// and is never the evidence: "ztgate audit verify" checks the segments
// themselves.
//
// The records themselves stay in the segments: a query reads each one
// back from its segment, and checks that the line there is the line
// indexed. Copying every record into the database cost most of indexing's
// CPU, and made the database as large as the log.
//
// On PostgreSQL deployments each node also ships its indexed records to a
// [Table] in the store's database, so that a query there sees every
// node's; [Querier] is what both answer.
package index

import (
	"bufio"
	"bytes"
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
	db    *sql.DB
	dir   string // the audit directory (DATA_DIR/audit)
	terms terms
}

// schemaVersion is the PRAGMA user_version of an index of this schema.
// An index file of any other version is dropped and filled again.
// Version 2 qualifies actions by their service (sts:AssumeRole).
const schemaVersion = 2

// schema is version 1. A record's row is small, about 100 bytes: each
// queried field is a term's id (see terms.go), and the record stays in
// its segment (segment, offset, size) unless Add put it in record. Small
// rows suit a WITHOUT ROWID table, keyed by (node, seq), the key that
// every index entry ends with: each filter's index, (field, time_us,
// node, seq), gives its records in the order queries ask for, unsorted.
// An empty field is NULL, and left out of its index.
const schema = `
CREATE TABLE terms (
	id INTEGER PRIMARY KEY,
	term TEXT NOT NULL UNIQUE
);
CREATE TABLE records (
	node TEXT NOT NULL,
	seq INTEGER NOT NULL,
	time_us INTEGER NOT NULL,
	principal INTEGER,
	action INTEGER,
	resource INTEGER,
	decision INTEGER,
	source_ip INTEGER,
	device INTEGER,
	error_code INTEGER,
	event_id TEXT NOT NULL,
	segment INTEGER,
	offset INTEGER,
	size INTEGER,
	record BLOB,
	PRIMARY KEY (node, seq)
) WITHOUT ROWID;
CREATE INDEX records_time ON records (time_us);
CREATE INDEX records_principal ON records (principal, time_us) WHERE principal IS NOT NULL;
CREATE INDEX records_action ON records (action, time_us) WHERE action IS NOT NULL;
CREATE INDEX records_resource ON records (resource, time_us) WHERE resource IS NOT NULL;
CREATE INDEX records_decision ON records (decision, time_us) WHERE decision IS NOT NULL;
CREATE INDEX records_source_ip ON records (source_ip, time_us) WHERE source_ip IS NOT NULL;
CREATE INDEX records_device ON records (device, time_us) WHERE device IS NOT NULL;
CREATE INDEX records_error_code ON records (error_code, time_us) WHERE error_code IS NOT NULL;
CREATE TABLE pruned (
	node TEXT NOT NULL PRIMARY KEY,
	through INTEGER NOT NULL
);
CREATE TABLE progress (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	node TEXT NOT NULL,
	segment TEXT NOT NULL,
	offset INTEGER NOT NULL,
	UNIQUE (node, segment)
);`

// Open opens (creating if needed) the index of the audit directory dir.
// An index written with another schema is emptied, to be filled again
// from the segments by the next Update.
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
	// The cache holds a batch's dirty pages, so that they are written
	// once, at commit.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-16384)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("audit index: %w", err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit index: %w", err)
	}
	return &Index{db: db, dir: dir}, nil
}

// migrate gives the database the current schema: a new file, or one of
// another version, whose tables are dropped. Every process opening the
// index does this in one write transaction, so that two racing to
// migrate one file migrate it once.
func migrate(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version == schemaVersion {
		return nil
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version == schemaVersion {
		return err
	}
	rows, err := tx.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := tx.Exec(`DROP TABLE "` + strings.ReplaceAll(t, `"`, `""`) + `"`); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(schema); err != nil {
		return err
	}
	if _, err := tx.Exec(`PRAGMA user_version = ` + strconv.Itoa(schemaVersion)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if len(tables) > 0 {
		// An old index held a copy of every record: give the space back.
		// The file shrinks when the vacuumed database leaves the WAL.
		for _, q := range []string{`VACUUM`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
			if _, err := db.Exec(q); err != nil {
				return err
			}
		}
	}
	return nil
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

// Add inserts rows in one transaction; rows already present are kept.
// Their records are stored in the index, since they are in no segment.
func (x *Index) Add(ctx context.Context, rows []Row) error {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	w, err := newRowWriter(ctx, x, tx)
	if err != nil {
		return err
	}
	defer w.close()
	for _, r := range rows {
		e := entry{seq: r.Seq, time: r.Time, record: r.Record}
		for i, v := range [nFields]string{r.Principal, r.Action, r.Resource, r.Decision, r.SourceIP, r.Device, r.ErrorCode, r.EventID} {
			e.fields[i] = []byte(v)
		}
		if err := w.insert(ctx, r.Node, &e, location{}); err != nil {
			return err
		}
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	w.terms.committed()
	return nil
}

// rowWriter inserts rows within a write transaction, rowsPerInsert to a
// statement: each statement execution costs the driver and SQLite
// (opening a cursor on the table and each index) about as much as a row.
type rowWriter struct {
	tx    *sql.Tx
	ins   *sql.Stmt // of rowsPerInsert rows
	terms *termTx
	args  []any
}

const (
	rowsPerInsert = 32
	insertColumns = 15
)

// insertSQL inserts n rows.
func insertSQL(n int) string {
	row := "(?" + strings.Repeat(", ?", insertColumns-1) + ")"
	return `INSERT OR IGNORE INTO records
		(node, seq, time_us, principal, action, resource, decision, source_ip, device, error_code, event_id, segment, offset, size, record)
		VALUES ` + row + strings.Repeat(", "+row, n-1)
}

func newRowWriter(ctx context.Context, x *Index, tx *sql.Tx) (*rowWriter, error) {
	ins, err := tx.PrepareContext(ctx, insertSQL(rowsPerInsert))
	if err != nil {
		return nil, err
	}
	terms, err := newTermTx(ctx, &x.terms, tx)
	if err != nil {
		ins.Close()
		return nil, err
	}
	return &rowWriter{tx: tx, ins: ins, terms: terms, args: make([]any, 0, rowsPerInsert*insertColumns)}, nil
}

// insert inserts e, a record of node that is in a segment at loc, or,
// when loc is zero, in e.record (which must stay unchanged until flush).
func (w *rowWriter) insert(ctx context.Context, node string, e *entry, loc location) error {
	var a [insertColumns]any
	a[0], a[1], a[2] = node, int64(e.seq), e.time.UnixMicro()
	var err error
	for i := range nTerms {
		if a[3+i], err = w.terms.value(ctx, e.fields[i]); err != nil {
			return err
		}
	}
	a[10] = string(e.fields[fEventID])
	if loc.segment != 0 {
		a[11], a[12], a[13], a[14] = loc.segment, loc.offset, loc.size, nil
	} else {
		a[11], a[12], a[13], a[14] = nil, nil, nil, []byte(e.record)
	}
	w.args = append(w.args, a[:]...)
	if len(w.args) == cap(w.args) {
		_, err = w.ins.ExecContext(ctx, w.args...)
		w.args = w.args[:0]
	}
	return err
}

// flush inserts the rows still waiting.
func (w *rowWriter) flush(ctx context.Context) error {
	if len(w.args) == 0 {
		return nil
	}
	_, err := w.tx.ExecContext(ctx, insertSQL(len(w.args)/insertColumns), w.args...)
	w.args = w.args[:0]
	return err
}

func (w *rowWriter) close() {
	w.ins.Close()
	w.terms.close()
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
	return x.pruneTo(ctx, node, nodeDir, through)
}

// pruneTo drops a node's records up to through, and the progress of its
// segments that are gone.
func (x *Index) pruneTo(ctx context.Context, node, nodeDir string, through uint64) error {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO pruned (node, through) VALUES (?, ?) ON CONFLICT (node) DO UPDATE SET through = MAX(through, excluded.through)`, node, int64(through)); err != nil {
		return err
	}
	return tx.Commit()
}

// forget drops everything the index holds of a node, whose log no longer
// holds what was indexed (a segment altered or removed by hand), so that
// the next Update indexes the log as it is.
func (x *Index) forget(ctx context.Context, node string) error {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	for _, q := range []string{`DELETE FROM records WHERE node = ?`, `DELETE FROM progress WHERE node = ?`} {
		if _, err := tx.ExecContext(ctx, q, node); err != nil {
			return err
		}
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

// batchSize bounds the rows Ship inserts per statement.
const batchSize = 5000

// updateBatch bounds the records Update indexes per transaction. Pages
// that every transaction changes (the last of each index) are written
// once a transaction: the larger, the fewer writes.
const updateBatch = 20000

// maxLine bounds a line: the writer writes no record larger than
// audit.MaxRecordSize, and a longer line, which it did not write, is
// skipped without being held in memory.
const maxLine = audit.MaxRecordSize + 4096

// updateSegment indexes the lines of a segment from where the last update
// stopped, updateBatch to a transaction, each transaction recording how
// far it got.
func (x *Index) updateSegment(ctx context.Context, node, seg string, done int64, progress Progress) (int64, error) {
	name := filepath.Base(seg)
	var (
		id     int64 // the segment's progress row, once there is one
		offset int64
	)
	err := x.db.QueryRowContext(ctx, `SELECT id, offset FROM progress WHERE node = ? AND segment = ?`, node, name).Scan(&id, &offset)
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
	lr := lineReader{r: bufio.NewReaderSize(f, 1<<20)}
	var (
		n, pending int64
		tx         *sql.Tx
		w          *rowWriter
	)
	defer func() {
		if tx != nil {
			w.close()
			tx.Rollback() //nolint:errcheck
		}
	}()
	// begin starts a batch where the segment's progress says, which is
	// further on when another process indexed some of the segment since;
	// false when the progress is gone, or another's: the index forgot
	// the node.
	begin := func() (bool, error) {
		var err error
		if tx, err = x.db.BeginTx(ctx, nil); err != nil {
			tx = nil
			return false, err
		}
		fail := func(err error) (bool, error) {
			tx.Rollback() //nolint:errcheck
			tx = nil
			return false, err
		}
		var nowID, now int64
		err = tx.QueryRowContext(ctx, `SELECT id, offset FROM progress WHERE node = ? AND segment = ?`, node, name).Scan(&nowID, &now)
		switch {
		case errors.Is(err, sql.ErrNoRows) && id == 0:
			err = tx.QueryRowContext(ctx, `INSERT INTO progress (node, segment, offset) VALUES (?, ?, ?) RETURNING id`, node, name, offset).Scan(&id)
		case errors.Is(err, sql.ErrNoRows), err == nil && (id != 0 && nowID != id || now < offset):
			return fail(nil)
		case err == nil && now > offset:
			if _, err = f.Seek(now, io.SeekStart); err == nil {
				lr.r.Reset(f)
			}
			id, offset = nowID, now
		case err == nil:
			id = nowID
		}
		if err != nil {
			return fail(err)
		}
		if w, err = newRowWriter(ctx, x, tx); err != nil {
			return fail(err)
		}
		return true, nil
	}
	commit := func() error {
		err := w.flush(ctx)
		w.close()
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE progress SET offset = ? WHERE id = ?`, offset, id)
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			tx.Rollback() //nolint:errcheck
			tx = nil
			return err
		}
		tx = nil
		w.terms.committed()
		n += pending
		pending = 0
		if progress != nil {
			progress(done + n)
		}
		return nil
	}
	for {
		line, err := lr.next()
		if err == io.EOF {
			break // a partial last line waits for the next update
		}
		if err != nil {
			return n, err
		}
		if tx == nil {
			at := offset
			if ok, err := begin(); !ok {
				return n, err
			}
			if offset != at {
				continue // this line was indexed; read on from offset
			}
		}
		// Lines that do not parse are skipped here; verify reports them.
		if line.whole() {
			if e, ok := parseLine(line.b[:len(line.b)-1]); ok {
				if err := w.insert(ctx, node, &e, location{id, offset, line.size}); err != nil {
					return n, err
				}
				pending++
			}
		}
		offset += line.size
		if pending == updateBatch {
			if err := commit(); err != nil {
				return n, err
			}
		}
	}
	if tx != nil {
		if err := commit(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// line is one line of a segment, newline included: b, unless it is longer
// than maxLine.
type line struct {
	b    []byte
	size int64
}

func (l line) whole() bool { return int64(len(l.b)) == l.size }

// lineReader reads a segment's lines, each valid until the next.
type lineReader struct {
	r    *bufio.Reader
	long []byte // a line longer than r's buffer
}

// next returns the next line; io.EOF when what is left has no newline,
// or holds a zero byte before it. A record line never holds one: at the
// start of a line it is the audit writer's zeros after the records of the
// segment it is writing; within a line, a line being written now (read
// half old zeros, half new bytes) or torn by a crash. Either is read
// again, from the same offset, by the next update.
func (lr *lineReader) next() (line, error) {
	if c, err := lr.r.Peek(1); err != nil || c[0] == 0 {
		if err == nil {
			err = io.EOF
		}
		return line{}, err
	}
	b, err := lr.r.ReadSlice('\n')
	if err == nil && bytes.IndexByte(b, 0) < 0 {
		return line{b: b, size: int64(len(b))}, nil
	}
	lr.long = lr.long[:0]
	size := int64(0)
	for {
		if bytes.IndexByte(b, 0) >= 0 {
			return line{}, io.EOF
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
		size += int64(len(b))
		if size <= maxLine {
			lr.long = append(lr.long, b...)
		}
		b, err = lr.r.ReadSlice('\n')
	}
	if err != nil {
		return line{}, err
	}
	size += int64(len(b))
	if size > maxLine {
		return line{size: size}, nil
	}
	lr.long = append(lr.long, b...)
	return line{b: lr.long, size: size}, nil
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
	var vals []string
	for _, v := range []string{f.Principal, f.Action, f.Resource, f.Decision, f.SourceIP, f.Device, f.ErrorCode} {
		if v != "" {
			vals = append(vals, v)
		}
	}
	ids, err := x.termIDs(ctx, vals)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if _, ok := ids[v]; !ok {
			return nil, nil // a value no record has
		}
	}
	clause, args := filterSQL(f, false, ids)
	return x.rows(ctx, clause, max(f.Limit, 0), args...)
}

// filterSQL renders f as the WHERE, ORDER BY and LIMIT clauses of a query
// of records, with its arguments; postgres numbers the placeholders. With
// terms, the fields but node are compared as the ids terms gives, written
// into the query: SQLite plans a statement again at every execution when
// a partial index's column is compared with a parameter.
func filterSQL(f Filter, postgres bool, terms map[string]int64) (string, []any) {
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
		switch {
		case v == "":
		case terms != nil && col != "node":
			where = append(where, col+" = "+strconv.FormatInt(terms[v], 10))
		default:
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
	var q string
	if len(where) > 0 {
		q = " WHERE " + strings.Join(where, " AND ")
	}
	order := "DESC"
	if f.Ascending {
		order = "ASC"
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY time_us " + order + ", node " + order + ", seq " + order
	if terms != nil {
		// As a parameter, the limit too has SQLite plan the statement again.
		return q + " LIMIT " + strconv.Itoa(limit), args
	}
	return q + " LIMIT " + arg(limit), args
}

// Count returns the number of indexed records.
func (x *Index) Count(ctx context.Context) (int64, error) {
	var n int64
	err := x.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records`).Scan(&n)
	return n, err
}
