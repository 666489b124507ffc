// Package control is a running node's control socket: a local HTTP API on
// a Unix socket in the data directory, reachable only by the directory's
// owner, the "ztgate store" commands that use it to read and write records
// and to follow the change feed of a running node, and "ztgate session
// revoke", which refuses a principal's temporary credentials.
package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/store"
)

// maxSocketPath is the longest Unix socket path Linux accepts, less one.
const maxSocketPath = 107

// Backend is what the control API needs from the node: its store, once it
// is open.
type Backend interface {
	Store() (store.Store, error)
}

// Listen opens the control socket at path, owner-only, replacing a stale
// socket left by a process that died.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is %d bytes; the limit is %d: use a shorter data directory", path, len(path), maxSocketPath)
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use by a running node", path)
	}
	os.Remove(path)
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

// Handler serves the control API. Every write is recorded in the audit
// log as an administrative change by the local user who made it.
func Handler(b Backend, log *slog.Logger, rec audit.Recorder) http.Handler {
	h := &handler{b: b, log: log, rec: rec}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/records/{kind}/{key...}", h.get)
	mux.HandleFunc("PUT /v1/records/{kind}/{key...}", h.put)
	mux.HandleFunc("DELETE /v1/records/{kind}/{key...}", h.delete)
	mux.HandleFunc("GET /v1/records/{kind}", h.list)
	mux.HandleFunc("GET /v1/changes", h.changes)
	mux.HandleFunc("POST /v1/sessions/revoke", h.revokeSessions)
	return mux
}

type handler struct {
	b   Backend
	log *slog.Logger
	rec audit.Recorder
}

// peerKey carries the socket peer's credentials in a request's context.
type peerKey struct{}

// ConnContext records the Unix peer credentials of a control connection,
// for http.Server.ConnContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, _ = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cred == nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, *cred)
}

// Actor names the local user on the other end of the socket, for the
// audit records of what other packages serve on it.
func Actor(r *http.Request) audit.Actor {
	a := audit.Actor{Identity: audit.UserIdentity{Type: "LocalUser"}, UserAgent: r.UserAgent()}
	if cred, ok := r.Context().Value(peerKey{}).(syscall.Ucred); ok {
		a.Identity.PrincipalID = fmt.Sprintf("uid:%d", cred.Uid)
		a.Identity.UserName = fmt.Sprintf("uid:%d pid:%d", cred.Uid, cred.Pid)
	}
	return a
}

// RecordJSON is a record as the control API shows it.
type RecordJSON struct {
	Kind     string    `json:"kind"`
	Key      string    `json:"key"`
	Value    []byte    `json:"value"`
	Revision int64     `json:"revision"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

func toJSON(r store.Record) RecordJSON {
	return RecordJSON{r.Kind, r.Key, r.Value, r.Revision, r.Created, r.Updated}
}

type errorJSON struct {
	Error string `json:"error"`
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, store.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, store.ErrUnavailable):
		code = http.StatusServiceUnavailable
	case errors.Is(err, store.ErrResync):
		code = http.StatusGone
	}
	writeJSON(w, code, errorJSON{err.Error()})
}

// WriteError answers a control request with an error in the shape Client
// reads: every handler on the control socket refuses so.
func WriteError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorJSON{msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (h *handler) store(w http.ResponseWriter) store.Store {
	s, err := h.b.Store()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorJSON{"store not ready: " + err.Error()})
		return nil
	}
	return s
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	s := h.store(w)
	if s == nil {
		return
	}
	rec, err := s.Get(r.Context(), r.PathValue("kind"), r.PathValue("key"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(rec))
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	s := h.store(w)
	if s == nil {
		return
	}
	recs, err := s.List(r.Context(), r.PathValue("kind"), r.URL.Query().Get("prefix"))
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]RecordJSON, 0, len(recs))
	for _, rec := range recs {
		out = append(out, toJSON(rec))
	}
	writeJSON(w, http.StatusOK, out)
}

type revisionJSON struct {
	Revision int64 `json:"revision"`
}

func (h *handler) put(w http.ResponseWriter, r *http.Request) {
	value, err := io.ReadAll(io.LimitReader(r.Body, store.MaxValueLen+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{"read body: " + err.Error()})
		return
	}
	h.write(w, r, store.OpPut, func(ctx context.Context, s store.Store, kind, key string) (int64, error) {
		return store.Put(ctx, s, kind, key, value)
	})
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, store.OpDelete, store.Delete)
}

// write runs one write and logs it: writes through the socket bypass the
// typed APIs, so each leaves a trace.
func (h *handler) write(w http.ResponseWriter, r *http.Request, op store.Op, fn func(context.Context, store.Store, string, string) (int64, error)) {
	s := h.store(w)
	if s == nil {
		return
	}
	kind, key := r.PathValue("kind"), r.PathValue("key")
	rev, err := fn(r.Context(), s, kind, key)
	ev := audit.AdminEvent{
		Actor:     Actor(r),
		Source:    "control.ztgate",
		Name:      map[store.Op]string{store.OpPut: "PutRecord", store.OpDelete: "DeleteRecord"}[op],
		Resources: []audit.Resource{{ARN: "ztgate:store:" + kind + "/" + key, Type: "ztgate::Record"}},
		// Values are not recorded: they may hold sealed secrets.
		Parameters: map[string]any{"kind": kind, "key": key},
	}
	if err == nil {
		ev.Response = map[string]any{"revision": rev}
	} else {
		ev.Code, ev.Message = "StoreError", err.Error()
	}
	// The change is acknowledged only once it is on record.
	if rerr := h.rec.Record(r.Context(), ev.Record()); rerr != nil {
		h.log.Error("audit record of a store change failed", "err", rerr)
		if err == nil {
			writeJSON(w, http.StatusInternalServerError, errorJSON{"change made but not recorded in the audit log: " + rerr.Error()})
			return
		}
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	h.log.Info("record changed through the control socket", "op", op, "kind", kind, "key", key, "revision", rev)
	writeJSON(w, http.StatusOK, revisionJSON{rev})
}

// RevokeJSON asks for the sessions of a principal to be revoked.
type RevokeJSON struct {
	Principal string `json:"principal"`
	Reason    string `json:"reason,omitempty"`
}

// RevokedJSON is the answer to a revocation.
type RevokedJSON struct {
	Principal string    `json:"principal"`
	Before    time.Time `json:"before"`
	Revision  int64     `json:"revision"`
}

// revokeSessions refuses, from now on and on every node, the temporary
// credentials a principal holds.
func (h *handler) revokeSessions(w http.ResponseWriter, r *http.Request) {
	var req RevokeJSON
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{"body: " + err.Error()})
		return
	}
	s := h.store(w)
	if s == nil {
		return
	}
	a := Actor(r)
	rv := session.Revocation{Before: time.Now().UTC(), By: a.Identity.UserName, Reason: req.Reason}
	rev, err := session.Revoke(r.Context(), s, req.Principal, rv)
	ev := audit.RevocationEvent{
		Actor:      a,
		Source:     audit.SourceSTS,
		Name:       "RevokeSessions",
		Resources:  []audit.Resource{{ARN: req.Principal, Type: "ztgate::SessionPrincipal"}},
		Reason:     req.Reason,
		Parameters: map[string]any{"principal": req.Principal, "before": rv.Before.Format(time.RFC3339Nano)},
	}
	rec := ev.Record()
	if err == nil {
		rec.ResponseElements = map[string]any{"revision": rev}
	} else {
		rec.ErrorCode, rec.ErrorMessage = "StoreError", err.Error()
	}
	// The revocation is acknowledged only once it is on record.
	if rerr := h.rec.Record(r.Context(), rec); rerr != nil {
		h.log.Error("audit record of a session revocation failed", "err", rerr)
		if err == nil {
			writeJSON(w, http.StatusInternalServerError, errorJSON{"sessions revoked but not recorded in the audit log: " + rerr.Error()})
			return
		}
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	h.log.Info("sessions revoked through the control socket", "principal", req.Principal, "before", rv.Before, "revision", rev)
	writeJSON(w, http.StatusOK, RevokedJSON{Principal: req.Principal, Before: rv.Before, Revision: rev})
}

// RevokeSessions revokes the sessions of principal issued until now.
func (c *Client) RevokeSessions(ctx context.Context, principal, reason string) (RevokedJSON, error) {
	body, err := json.Marshal(RevokeJSON{Principal: principal, Reason: reason})
	if err != nil {
		return RevokedJSON{}, err
	}
	var out RevokedJSON
	err = c.do(ctx, http.MethodPost, "/v1/sessions/revoke", bytes.NewReader(body), &out)
	return out, err
}

// changes streams the change feed as JSON lines, from ?after=N (default:
// the current revision), until the client goes away.
func (h *handler) changes(w http.ResponseWriter, r *http.Request) {
	s := h.store(w)
	if s == nil {
		return
	}
	var after int64
	if a := r.URL.Query().Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, errorJSON{"after: not a revision number"})
			return
		}
		after = n
	} else {
		rev, err := s.Revision(r.Context())
		if err != nil {
			h.fail(w, err)
			return
		}
		after = rev
	}
	sub := s.Watch(after)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := json.NewEncoder(w)
	for {
		c, err := sub.Next(r.Context())
		if err != nil {
			if r.Context().Err() == nil {
				enc.Encode(errorJSON{err.Error()})
			}
			return
		}
		if err := enc.Encode(c); err != nil {
			return
		}
		rc.Flush()
	}
}

// Client talks to a node's control socket.
type Client struct {
	http *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, fmt.Errorf("no running node answers on %s (is \"ztgate serve\" running with this data directory?): %w", path, err)
			}
			return c, nil
		},
	}}}
}

// Do sends a request to the control API and decodes its JSON answer into
// out; an answer other than 200 becomes an error with its message.
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, out any) error {
	return c.do(ctx, method, path, body, out)
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://ztgate"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorJSON
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s", e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Put writes a record and returns the write's revision.
func (c *Client) Put(ctx context.Context, kind, key string, value []byte) (int64, error) {
	var rev revisionJSON
	err := c.do(ctx, http.MethodPut, recordPath(kind, key), bytes.NewReader(value), &rev)
	return rev.Revision, err
}

// Get reads a record.
func (c *Client) Get(ctx context.Context, kind, key string) (RecordJSON, error) {
	var r RecordJSON
	err := c.do(ctx, http.MethodGet, recordPath(kind, key), nil, &r)
	return r, err
}

// Watch streams changes after revision after (-1: from now) to fn until ctx
// ends or fn returns an error.
func (c *Client) Watch(ctx context.Context, after int64, fn func(store.Change) error) error {
	q := ""
	if after >= 0 {
		q = "?after=" + strconv.FormatInt(after, 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://ztgate/v1/changes"+q, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			store.Change
			Error string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("bad change line: %w", err)
		}
		if line.Error != "" {
			return errors.New(line.Error)
		}
		if err := fn(line.Change); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the node closed the change stream")
}
