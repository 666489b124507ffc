package index

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
)

// The records table holds each queried field but the node as the id of
// its value in the terms table: the field's index then holds integers,
// which SQLite stores and compares at a fraction of the cost of strings,
// and which the driver binds without copying. An empty value is NULL,
// and the partial indexes leave it out: no filter looks for it.

// terms caches the terms table both ways. A term's id never changes once
// committed (terms are only ever added, and a schema migration, which
// drops them, happens when the index is opened), so the cache is never
// wrong; it is emptied when it grows past maxCachedTerms.
type terms struct {
	mu   sync.Mutex
	ids  map[string]int64
	vals map[int64]string
}

const maxCachedTerms = 1 << 16

func (t *terms) id(v []byte) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.ids[string(v)]
	return id, ok
}

func (t *terms) val(id int64) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.vals[id]
	return v, ok
}

func (t *terms) add(v string, id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil || len(t.ids) >= maxCachedTerms {
		t.ids, t.vals = map[string]int64{}, map[int64]string{}
	}
	t.ids[v], t.vals[id] = id, v
}

// termTx finds and adds terms within a write transaction; they are
// cached once it commits.
type termTx struct {
	t        *terms
	get, put *sql.Stmt
	pending  map[string]int64
}

func newTermTx(ctx context.Context, t *terms, tx *sql.Tx) (*termTx, error) {
	get, err := tx.PrepareContext(ctx, `SELECT id FROM terms WHERE term = ?`)
	if err != nil {
		return nil, err
	}
	put, err := tx.PrepareContext(ctx, `INSERT INTO terms (term) VALUES (?) ON CONFLICT DO NOTHING RETURNING id`)
	if err != nil {
		get.Close()
		return nil, err
	}
	return &termTx{t: t, get: get, put: put, pending: map[string]int64{}}, nil
}

// id returns the id of v, adding it when it is new.
func (w *termTx) id(ctx context.Context, v []byte) (int64, error) {
	if id, ok := w.t.id(v); ok {
		return id, nil
	}
	if id, ok := w.pending[string(v)]; ok {
		return id, nil
	}
	s := string(v)
	var id int64
	err := w.put.QueryRowContext(ctx, s).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) { // not new
		err = w.get.QueryRowContext(ctx, s).Scan(&id)
	}
	if err != nil {
		return 0, err
	}
	w.pending[s] = id
	return id, nil
}

// value returns the id of v as a column value: NULL when v is empty.
func (w *termTx) value(ctx context.Context, v []byte) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return w.id(ctx, v)
}

// committed caches the terms added, once their transaction committed.
func (w *termTx) committed() {
	for v, id := range w.pending {
		w.t.add(v, id)
	}
	clear(w.pending)
}

func (w *termTx) close() {
	w.get.Close()
	w.put.Close()
}

// termIDs returns the ids of vals that are terms.
func (x *Index) termIDs(ctx context.Context, vals []string) (map[string]int64, error) {
	ids := map[string]int64{}
	var missing []any
	for _, v := range vals {
		if id, ok := x.terms.id([]byte(v)); ok {
			ids[v] = id
		} else {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return ids, nil
	}
	rows, err := x.db.QueryContext(ctx, `SELECT id, term FROM terms WHERE term IN (?`+strings.Repeat(", ?", len(missing)-1)+`)`, missing...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		ids[v] = id
		x.terms.add(v, id)
	}
	return ids, rows.Err()
}

// termVals returns the values of the ids of rows' terms; 0, no term,
// has the empty value.
func (x *Index) termVals(ctx context.Context, rows [][nTerms]int64) (map[int64]string, error) {
	vals := map[int64]string{0: ""}
	var missing []any
	for _, r := range rows {
		for _, id := range r {
			if _, ok := vals[id]; ok {
				continue
			}
			if v, ok := x.terms.val(id); ok {
				vals[id] = v
			} else {
				vals[id] = "" // until found
				missing = append(missing, id)
			}
		}
	}
	for len(missing) > 0 {
		// SQLite takes at most 32766 parameters.
		n := min(len(missing), 10000)
		rows, err := x.db.QueryContext(ctx, `SELECT id, term FROM terms WHERE id IN (?`+strings.Repeat(", ?", n-1)+`)`, missing[:n]...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, err
			}
			vals[id] = v
			x.terms.add(v, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		missing = missing[n:]
	}
	return vals, nil
}
