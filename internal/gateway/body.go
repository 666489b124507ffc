package gateway

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

var (
	// errBodyCut is what the transport reads from a request body once
	// the exchange is over: the rest of the body is not forwarded.
	errBodyCut = errors.New("gateway: the exchange ended before the request body was forwarded")
	// errSwitchBeforeBody refuses an upstream's switch of protocols
	// before it had the whole request body.
	errSwitchBeforeBody = errors.New("gateway: the upstream switched protocols before it had the request body")
)

// requestBody is an HTTP/1.x client's request body on its way upstream,
// read with full duplex enabled.
//
// The transport copies it in a goroutine of its own, which outlives the
// handler when the upstream answers before reading all of it, or fails.
// net/http allows no read of the body once the handler has returned: the
// server then reads the next request from the same connection, and a read
// of the previous body racing it crashes the connection ("invalid
// concurrent Body.Read call"). So does a body the server reads to its end
// itself after a full-duplex handler (golang.org/issue/68560). Hence:
//
//   - an answer whose head is written before the body has been read to its
//     end closes the connection ([requestBody.answer]): what remains of the
//     body is never read as another request, and the server reads no next
//     request on the connection;
//   - when the handler is done ([requestBody.finish]), reads stop: one in
//     progress is interrupted (if the connection closes after the answer)
//     or waited for, later ones fail without reaching the client's body;
//   - a switch of protocols stops them at once, and is refused if the body
//     has not been read to its end ([requestBody.switching]): the
//     connection is the new protocol's from then on.
type requestBody struct {
	body   io.ReadCloser
	length int64 // the declared length; -1 if unknown
	rc     *http.ResponseController

	reading sync.Mutex // held by Read while it reads body

	mu      sync.Mutex // guards what follows
	n       int64      // bytes read
	err     error      // the first error body returned: io.EOF at its end
	inRead  bool       // a Read of body is in progress
	closing bool       // the answer closes the connection
	cut     bool       // no more reads of body
}

var _ io.ReadCloser = (*requestBody)(nil)

func newRequestBody(r *http.Request, rc *http.ResponseController) *requestBody {
	return &requestBody{body: r.Body, length: r.ContentLength, rc: rc}
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.reading.Lock()
	defer b.reading.Unlock()
	b.mu.Lock()
	if b.cut {
		defer b.mu.Unlock()
		switch {
		case b.err != nil:
			return 0, b.err
		case b.length >= 0 && b.n >= b.length:
			return 0, io.EOF
		}
		return 0, errBodyCut
	}
	b.inRead = true
	b.mu.Unlock()

	n, err := b.body.Read(p)

	b.mu.Lock()
	b.inRead = false
	b.n += int64(n)
	if err != nil && b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	return n, err
}

// Close does nothing: the transport closes the body when it is done with
// it, possibly after the handler, but the client's body is the server's
// to close, after the answer.
func (b *requestBody) Close() error { return nil }

// completeLocked reports whether the body has been read to its end, or as
// far as it will ever be.
func (b *requestBody) completeLocked() bool {
	return b.err != nil || (b.length >= 0 && b.n >= b.length)
}

// answer is called as the head of the final answer is about to be
// written, with its header: an answer that starts before the body has been
// read to its end closes the connection.
//
// Whether the upstream will read the rest (an echo, a stream) or not (an
// early refusal, a failure) cannot be told; in either case, after the
// answer, net/http would read what is left of the body by itself and then
// crash reading the next request (golang.org/issue/68560). Draining it in
// the handler instead would wait, before the answer ends, for a client
// that may be waiting for the answer to end. A body that was read to its
// end by the time the upstream answered (the common case: upstreams
// answer after reading) keeps the connection.
func (b *requestBody) answer(h http.Header) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.completeLocked() {
		return
	}
	b.closing = true
	h.Set("Connection", "close")
}

// switching is called when the upstream switches protocols, before the
// proxy takes the client's connection over: a read of the body from it
// would then race the proxy's reads of the new protocol. It stops the
// reads, and refuses the switch if the body has not been read to its end.
func (b *requestBody) switching() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.completeLocked() {
		return errSwitchBeforeBody
	}
	b.cut = true
	return nil
}

// finish stops the reads of the body before the handler returns: when it
// returns, no read is in progress and none will start.
func (b *requestBody) finish() {
	b.mu.Lock()
	b.cut = true
	// A read in progress waits for more of the body from a client that
	// may itself be waiting for the end of the answer. If the connection
	// closes after the answer, it can be cut short: nothing after it will
	// be read as a request.
	interrupted := b.inRead && b.closing && b.rc.SetReadDeadline(time.Unix(1, 0)) == nil
	b.mu.Unlock()

	b.reading.Lock() // wait for the read in progress, if any
	defer b.reading.Unlock()
	if interrupted {
		// As net/http does after interrupting a read of its own: the
		// server then reads what is left of the body (up to a limit)
		// after the answer, so that closing the connection does not
		// reset it before the client has the answer.
		b.rc.SetReadDeadline(time.Time{})
	}
}
