package index

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Table is the ztgate_audit table of a PostgreSQL store (created by the
// store's migrations): the records of every node, each node shipping its
// own from its index, so that a query there sees them all. Like the index
// it is derived data, never the evidence.
type Table struct {
	db *sql.DB
}

// NewTable returns the audit table of db, a PostgreSQL store's database.
func NewTable(db *sql.DB) *Table { return &Table{db: db} }

// Query returns the records of every node matching f, newest first unless
// f.Ascending.
func (t *Table) Query(ctx context.Context, f Filter) ([]Row, error) {
	clause, args := filterSQL(f, true, nil)
	rows, err := t.db.QueryContext(ctx, `SELECT `+rowColumns+`, record FROM ztgate_audit`+clause, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanRows(rows)
}

// rowColumns are the columns of ztgate_audit that make a Row, in
// scanRows' order.
const rowColumns = "node, seq, time_us, principal, action, resource, decision, source_ip, device, error_code, event_id"

// scanRows reads rows of rowColumns and the record.
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

// Ship copies to the table the records of x it does not hold yet and
// returns how many it inserted. A node's progress is the highest sequence
// number the table holds for it: the index fills in sequence order and
// each batch is one statement, so a crash at any point loses nothing and
// the next Ship resumes there; a record present already is left as it is.
func (t *Table) Ship(ctx context.Context, x *Index) (int64, error) {
	nodes, err := x.nodes(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, node := range nodes {
		// What retention removed from the node's log leaves the table too.
		through, err := x.prunedThrough(ctx, node)
		if err != nil {
			return total, err
		}
		if through > 0 {
			if _, err := t.db.ExecContext(ctx, `DELETE FROM ztgate_audit WHERE node = $1 AND seq <= $2`, node, through); err != nil {
				return total, err
			}
		}
		var last sql.NullInt64
		if err := t.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM ztgate_audit WHERE node = $1`, node).Scan(&last); err != nil {
			return total, err
		}
		for {
			rows, err := x.after(ctx, node, last.Int64, batchSize)
			if err != nil {
				return total, err
			}
			if len(rows) == 0 {
				break
			}
			n, err := t.insert(ctx, rows)
			total += n
			if err != nil {
				return total, err
			}
			last.Int64 = int64(rows[len(rows)-1].Seq)
			if len(rows) < batchSize {
				break
			}
		}
	}
	return total, nil
}

// insert adds rows in one statement, arrays unnested into rows, so that a
// batch costs one round trip.
func (t *Table) insert(ctx context.Context, rows []Row) (int64, error) {
	var (
		node, principal, action, resource, decision, sourceIP, device, errorCode, eventID, record []string
		seq, timeUS                                                                               []int64
	)
	for _, r := range rows {
		// ztgate writes records with encoding/json, which never emits
		// invalid UTF-8: such a line was altered, verify reports it, and
		// PostgreSQL's text would refuse it and stop shipping for good.
		if !utf8.Valid(r.Record) {
			continue
		}
		node = append(node, text(r.Node))
		seq = append(seq, int64(r.Seq))
		timeUS = append(timeUS, r.Time.UnixMicro())
		principal = append(principal, text(r.Principal))
		action = append(action, text(r.Action))
		resource = append(resource, text(r.Resource))
		decision = append(decision, text(r.Decision))
		sourceIP = append(sourceIP, text(r.SourceIP))
		device = append(device, text(r.Device))
		errorCode = append(errorCode, text(r.ErrorCode))
		eventID = append(eventID, text(r.EventID))
		record = append(record, string(r.Record))
	}
	if len(node) == 0 {
		return 0, nil
	}
	res, err := t.db.ExecContext(ctx, `INSERT INTO ztgate_audit
		(node, seq, time_us, principal, action, resource, decision, source_ip, device, error_code, event_id, record)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
		ON CONFLICT (node, seq) DO NOTHING`,
		node, seq, timeUS, principal, action, resource, decision, sourceIP, device, errorCode, eventID, record)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// text makes a field storable as PostgreSQL text, which cannot hold NUL: a
// record may carry one, escaped, in a field taken from a request.
func text(s string) string {
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// nodes returns the nodes whose records the index holds.
func (x *Index) nodes(ctx context.Context) ([]string, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT DISTINCT node FROM progress ORDER BY node`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// after returns up to limit records of node with sequence numbers above
// seq, in sequence order.
func (x *Index) after(ctx context.Context, node string, seq int64, limit int) ([]Row, error) {
	return x.rows(ctx, ` WHERE node = ? AND seq > ? ORDER BY seq LIMIT `+strconv.Itoa(limit), limit, node, seq)
}
