package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
)

// A query finds rows in the index and reads their records back from the
// segments. The log may have changed since it was indexed: retention
// removes old segments at any time, and the index learns of it at the
// next Update; a segment may have been altered or removed by hand. A row
// whose line is gone, or is no longer the line indexed (whole, of the
// same sequence number), is stale: the index is repaired (the node
// pruned as its retention marker says, else forgotten, to be indexed
// again) and the query runs again, so that it answers as an index of the
// log as it now is would, and a page holds as many rows as the log has.

// maxRepairs bounds the repairs one query makes before giving up on a
// log that keeps changing under it.
const maxRepairs = 3

// location is where a row's record is: the line at offset, size bytes
// long, newline included, in the segment whose progress row is segment.
type location struct {
	segment, offset, size int64
}

// selectRows selects what locate scans: the columns of a Row, terms and
// locations as integers, 0 for NULL.
const selectRows = `SELECT node, seq, time_us, IFNULL(principal, 0), IFNULL(action, 0), IFNULL(resource, 0),
	IFNULL(decision, 0), IFNULL(source_ip, 0), IFNULL(device, 0), IFNULL(error_code, 0), event_id, record,
	IFNULL(segment, 0), IFNULL(offset, 0), IFNULL(size, 0) FROM records`

// rows selects the rows of records that clause (WHERE, ORDER BY, LIMIT)
// chooses, about n of them, and reads their records.
func (x *Index) rows(ctx context.Context, clause string, n int, args ...any) ([]Row, error) {
	for repairs := 0; ; repairs++ {
		rows, at, err := x.locate(ctx, selectRows+clause, n, args)
		if err != nil {
			return nil, err
		}
		stale, err := x.read(ctx, rows, at)
		if err != nil || len(stale) == 0 {
			return rows, err
		}
		if repairs == maxRepairs {
			return nil, fmt.Errorf("audit index: the log keeps changing under the query")
		}
		forgot := false
		for node, seqs := range stale {
			f, err := x.repair(ctx, node, seqs)
			if err != nil {
				return nil, err
			}
			forgot = forgot || f
		}
		if forgot {
			// Answer from the node's log as it is now, not without it.
			if _, err := x.Update(ctx, nil); err != nil {
				return nil, err
			}
		}
	}
}

// locate runs q: the rows, with their records when the index holds them,
// else where they are.
func (x *Index) locate(ctx context.Context, q string, n int, args []any) ([]Row, []location, error) {
	res, err := x.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer res.Close()
	n = min(n, 10000)
	var (
		rows  = make([]Row, 0, n)
		at    = make([]location, 0, n)
		terms = make([][nTerms]int64, 0, n)
	)
	for res.Next() {
		var (
			r       Row
			seq, us int64
			t       [nTerms]int64
			w       location
			rec     []byte
		)
		if err := res.Scan(&r.Node, &seq, &us, &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &r.EventID,
			&rec, &w.segment, &w.offset, &w.size); err != nil {
			return nil, nil, err
		}
		r.Seq, r.Time, r.Record = uint64(seq), time.UnixMicro(us).UTC(), rec
		rows = append(rows, r)
		at = append(at, w)
		terms = append(terms, t)
	}
	if err := res.Err(); err != nil {
		return nil, nil, err
	}
	vals, err := x.termVals(ctx, terms)
	if err != nil {
		return nil, nil, err
	}
	for i := range rows {
		r, t := &rows[i], &terms[i]
		for j, dst := range [nTerms]*string{&r.Principal, &r.Action, &r.Resource, &r.Decision, &r.SourceIP, &r.Device, &r.ErrorCode} {
			*dst = vals[t[j]]
		}
	}
	return rows, at, nil
}

// read reads the records of rows that are in segments, and returns the
// sequence numbers of the stale rows by node.
func (x *Index) read(ctx context.Context, rows []Row, at []location) (map[string][]uint64, error) {
	var todo []int // rows to read, by segment and offset
	var ids []any
	for i := range rows {
		if rows[i].Record == nil && at[i].segment != 0 {
			todo = append(todo, i)
			ids = append(ids, at[i].segment)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	paths, err := x.segmentPaths(ctx, ids)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(todo, func(i, j int) int {
		if c := strings.Compare(paths[at[i].segment], paths[at[j].segment]); c != 0 {
			return c
		}
		return cmp.Compare(at[i].offset, at[j].offset)
	})
	stale := map[string][]uint64{}
	var (
		f    *os.File
		path string
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for len(todo) > 0 {
		// A run: lines next to each other in one segment, read at once.
		first := at[todo[0]]
		p := paths[first.segment]
		end, n := first.offset+first.size, 1
		for n < len(todo) && paths[at[todo[n]].segment] == p && at[todo[n]].offset == end && end-first.offset < 1<<20 {
			end += at[todo[n]].size
			n++
		}
		run := todo[:n]
		todo = todo[n:]
		var buf []byte
		if p != "" && p != path {
			if f != nil {
				f.Close()
			}
			path = p
			if f, err = os.Open(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		if p != "" && f != nil {
			buf = make([]byte, end-first.offset)
			k, err := f.ReadAt(buf, first.offset)
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			buf = buf[:k] // a segment cut short: its missing lines are stale
		}
		for _, i := range run {
			w := at[i]
			lo, hi := w.offset-first.offset, w.offset-first.offset+w.size
			if hi <= int64(len(buf)) && buf[hi-1] == '\n' {
				if seq, rec, ok := lineRecord(buf[lo : hi-1]); ok && seq == rows[i].Seq {
					rows[i].Record = rec[:len(rec):len(rec)]
					continue
				}
			}
			stale[rows[i].Node] = append(stale[rows[i].Node], rows[i].Seq)
		}
	}
	return stale, nil
}

// segmentPaths maps progress rows to their segments' paths; a row that is
// gone maps to "".
func (x *Index) segmentPaths(ctx context.Context, ids []any) (map[int64]string, error) {
	slices.SortFunc(ids, func(a, b any) int { return cmp.Compare(a.(int64), b.(int64)) })
	ids = slices.Compact(ids)
	res, err := x.db.QueryContext(ctx, `SELECT id, node, segment FROM progress WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, ids...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	paths := map[int64]string{}
	for res.Next() {
		var id int64
		var node, seg string
		if err := res.Scan(&id, &node, &seg); err != nil {
			return nil, err
		}
		paths[id] = filepath.Join(x.dir, node, "segments", seg)
	}
	return paths, res.Err()
}

// repair brings the index of node back to its log, where its rows of seqs
// were stale: retention removed them, and the index prunes them, or
// something else changed the log, and the index forgets the node (and
// says so: the caller re-indexes it).
func (x *Index) repair(ctx context.Context, node string, seqs []uint64) (forgot bool, err error) {
	nodeDir := filepath.Join(x.dir, node)
	through, err := audit.PrunedThrough(nodeDir)
	if err != nil {
		return false, fmt.Errorf("audit index: %s: %w", node, err)
	}
	if slices.Max(seqs) <= through {
		return false, x.pruneTo(ctx, node, nodeDir, through)
	}
	return true, x.forget(ctx, node)
}
