package gateway

import (
	"bufio"
	"context"
	"net"
	"net/http"

	"github.com/ztgate/ztgate/internal/audit"
)

// submitter is a recorder that takes a record at once and tells later
// when it is durable ([audit.Writer] in its synchronous mode).
type submitter interface {
	Submit(ctx context.Context, r *audit.Record) (func(context.Context) error, error)
}

var _ submitter = (*audit.Writer)(nil)

// safeMethod reports the methods that do not change the upstream's state
// (RFC 9110, 9.2.1): their effect is the answer, so the gateway may
// forward them while their decision record is being made durable, as
// long as it holds the answer until it is. Any other method is forwarded
// only once its record is on disk.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// heldWriter lets nothing of the answer out (head, body, flush, upgraded
// connection) until wait has returned nil. When wait fails, the upstream's
// answer is dropped and the client is told that the request could not be
// audited and the upstream exchange is cancelled. The reverse proxy
// writes the answer from one goroutine; interim answers (1xx) come from
// the transport's, and are never held.
type heldWriter struct {
	http.ResponseWriter
	x      *exchange
	ctx    context.Context
	wait   func(context.Context) error // nil once called
	err    error
	cancel context.CancelFunc // ends the upstream exchange
}

// release waits for the record once and reports whether the answer may
// go out. On failure it writes the refusal in the answer's place.
func (h *heldWriter) release() error {
	if h.wait == nil {
		return h.err
	}
	wait := h.wait
	h.wait = nil
	if h.err = wait(h.ctx); h.err != nil {
		if h.ctx.Err() != nil {
			return h.err // the client went away; the record still goes to disk
		}
		h.x.g.log.Error("gateway: auditing a decision failed; the answer is withheld", "route", h.x.routeName(), "err", h.err, "request_id", h.x.rid)
		clear(h.ResponseWriter.Header()) // the upstream's, copied already
		writeRefusal(h.ResponseWriter, h.x.format, h.x.rid, refuseAudit)
		http.NewResponseController(h.ResponseWriter).Flush()
		// A streamed answer would otherwise run on, discarded, for as
		// long as the upstream sends it.
		h.cancel()
	}
	return h.err
}

// WriteHeader sends the head once the record is durable. An interim
// answer (103 Early Hints) is optional: it is passed on only when the
// record is already durable, never waited for, as the transport calls
// this from the goroutine that reads the upstream connection.
func (h *heldWriter) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		if h.wait == nil && h.err == nil {
			h.ResponseWriter.WriteHeader(code)
		}
		return
	}
	if h.release() == nil {
		h.ResponseWriter.WriteHeader(code)
	}
}

// Write sends body bytes once the record is durable. After a failure
// the upstream's bytes are discarded as if written, so that the proxy
// ends the exchange normally and the refusal reaches the client (a
// failed write would make it abort the connection instead).
func (h *heldWriter) Write(b []byte) (int, error) {
	if err := h.release(); err != nil {
		return len(b), nil
	}
	return h.ResponseWriter.Write(b)
}

// FlushError flushes once the record is durable (after a failure, the
// refusal).
func (h *heldWriter) FlushError() error {
	h.release()
	return http.NewResponseController(h.ResponseWriter).Flush()
}

// Hijack hands over an upgraded connection (WebSocket) once the record
// is durable.
func (h *heldWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if err := h.release(); err != nil {
		return nil, nil, err
	}
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer for what
// releases nothing (deadlines, full duplex).
func (h *heldWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }
