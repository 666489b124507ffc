package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// streamHarness puts a gateway (route "app", any path, alice allowed) in
// front of handler.
func streamHarness(t *testing.T, handler http.Handler, mod func(*Route)) *harness {
	t.Helper()
	up := httptest.NewServer(handler)
	t.Cleanup(up.Close)
	rt := Route{Name: "app", Upstreams: []*url.URL{mustURL(up.URL)}}
	if mod != nil {
		mod(&rt)
	}
	return newHarness(t, Config{
		Decider:  &prefixDecider{allow: []string{appARN("/")}},
		Asserter: &fakeAsserter{},
		Routes:   []Route{rt},
	})
}

func TestWebSocket(t *testing.T) {
	var sawHeader atomic.Value
	echo := websocket.Handler(func(ws *websocket.Conn) {
		r := ws.Request()
		sawHeader.Store(r.Header.Get(AssertionHeader) + "|" + r.Header.Get("X-Forwarded-User") + "|" + r.URL.Path)
		io.Copy(ws, ws)
	})
	h := streamHarness(t, echo, nil)

	cfg, err := websocket.NewConfig("ws://"+h.srv.Listener.Addr().String()+"/ws/ech%6f", "http://origin.example/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header = http.Header{"Authorization": {"Bearer alice"}, "X-Forwarded-User": {"admin"}}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for i := range 3 {
		msg := fmt.Sprintf("message %d", i)
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := websocket.Message.Receive(ws, &got); err != nil || got != msg {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	if got := sawHeader.Load(); got != "assert:app:arn:zt:iam::111122223333:user/alice||/ws/echo" {
		t.Errorf("upstream saw %q", got)
	}
	ws.Close()
	// The exchange is counted when the connection ends.
	h.waitRequests("app", "GET", "101", 1)

	// Without credentials the upgrade is refused before the upstream.
	cfg.Header = nil
	if _, err := websocket.DialConfig(cfg); err == nil {
		t.Error("an unauthenticated upgrade succeeded")
	}
	h.waitRequests("app", "GET", "401", 1)
}

func TestServerSentEvents(t *testing.T) {
	next := make(chan struct{})
	sse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			// The next event is written only once the client has read
			// this one: a gateway that buffered would stall here.
			select {
			case <-next:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
				return
			}
		}
	})
	h := streamHarness(t, sse, nil)
	req, _ := http.NewRequest("GET", h.srv.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			br.ReadString('\n')
			got <- line
		}()
		select {
		case line := <-got:
			if want := fmt.Sprintf("data: event %d\n", i); line != want {
				t.Fatalf("got %q, want %q", line, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d was not flushed", i)
		}
		next <- struct{}{}
	}
}

// lockstep lets a writer run at most window bytes ahead of a reader: if
// anything between them buffers more than that, both stall.
type lockstep struct {
	written, read atomic.Int64
	window        int64
	progress      chan struct{}
}

func newLockstep(window int64) *lockstep {
	return &lockstep{window: window, progress: make(chan struct{}, 1)}
}

func (l *lockstep) wait() error {
	for l.written.Load()-l.read.Load() > l.window {
		select {
		case <-l.progress:
		case <-time.After(15 * time.Second):
			return errors.New("stalled: the body is being buffered")
		}
	}
	return nil
}

func (l *lockstep) consumed(n int) {
	l.read.Add(int64(n))
	select {
	case l.progress <- struct{}{}:
	default:
	}
}

// source produces size zero bytes, never running more than the
// lockstep's window ahead of what the far side consumed.
type source struct {
	l    *lockstep
	left int64
}

func (s *source) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if err := s.l.wait(); err != nil {
		return 0, err
	}
	n := min(int64(len(p)), s.left, 256<<10)
	clear(p[:n])
	s.left -= n
	s.l.written.Add(n)
	return int(n), nil
}

func TestLargeBodiesStream(t *testing.T) {
	const size = 100 << 20
	const window = 16 << 20
	up, down := newLockstep(window), newLockstep(window)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		var total int64
		for {
			n, err := r.Body.Read(buf)
			total += int64(n)
			up.consumed(n)
			if err != nil {
				break
			}
		}
		w.Header().Set("X-Received", strconv.FormatInt(total, 10))
		io.Copy(w, &source{l: down, left: size})
	})
	h := streamHarness(t, handler, nil)

	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	defer close(stop)

	req, _ := http.NewRequest("POST", h.srv.URL+"/upload", &source{l: up, left: size})
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var got int64
	for {
		n, err := resp.Body.Read(buf)
		got += int64(n)
		down.consumed(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if resp.Header.Get("X-Received") != strconv.Itoa(size) || got != size {
		t.Fatalf("upstream received %s bytes, client %d", resp.Header.Get("X-Received"), got)
	}
	if p := peak.Load(); p > 64<<20 {
		t.Errorf("heap in use peaked at %d MiB while streaming 2×100 MiB", p>>20)
	}
}

func TestH2CUpstream(t *testing.T) {
	var proto atomic.Value
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "over "+r.Proto)
		w.Header().Set("X-Checksum", "42")
	}))
	up.Config.Protocols = new(http.Protocols)
	up.Config.Protocols.SetUnencryptedHTTP2(true) // h2c only: HTTP/1.1 would fail
	up.Start()
	t.Cleanup(up.Close)
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{appARN("/")}},
		Routes:  []Route{{Name: "app", H2C: true, Upstreams: []*url.URL{mustURL(up.URL)}}},
	})
	resp, body := h.do("GET", "/x", bearer("alice"), nil)
	if resp.StatusCode != 200 || body != "over HTTP/2.0" || proto.Load() != "HTTP/2.0" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, proto.Load())
	}
	if resp.Trailer.Get("X-Checksum") != "42" {
		t.Errorf("trailers %v", resp.Trailer)
	}
}

func TestHTTP2TLSUpstream(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	up.EnableHTTP2 = true
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client's handshake below
	up.StartTLS()
	t.Cleanup(up.Close)
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{appARN("/")}},
		Routes:  []Route{{Name: "app", Upstreams: []*url.URL{mustURL(up.URL)}, UpstreamTLS: tlsConfig(pool)}},
	})
	if resp, body := h.do("GET", "/x", bearer("alice"), nil); resp.StatusCode != 200 || body != "HTTP/2.0" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	// An upstream whose certificate is not trusted is a 502, never a
	// silent downgrade.
	h2 := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{appARN("/")}},
		Routes:  []Route{{Name: "app", Upstreams: []*url.URL{mustURL(up.URL)}}},
	})
	if resp, _ := h2.do("GET", "/x", bearer("alice"), nil); resp.StatusCode != 502 {
		t.Errorf("untrusted upstream certificate: %d", resp.StatusCode)
	}
}

func TestGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("wiki", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	up := mustURL("http://" + lis.Addr().String())
	h := newHarness(t, Config{
		Decider: &prefixDecider{
			allow: []string{ResourceARN(testAccount, "grpc", "/grpc.health.v1.Health/")},
			deny:  []string{ResourceARN(testAccount, "grpc", "/grpc.health.v1.Health/List")},
		},
		Routes: []Route{{Name: "grpc", H2C: true, Upstreams: []*url.URL{up}}},
	})
	// The gateway's listener speaks h2c too, as gRPC clients expect.
	front := serveGateway(t, h.gw, func(s *http.Server) {
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		s.Protocols.SetUnencryptedHTTP2(true)
	})

	conn, err := grpc.NewClient(front.Listener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	// Each call has a deadline of its own: on a loaded machine, the calls
	// before it must not use up its time.
	call := func(authorization string) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		if authorization == "" {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	}
	const alice = "Bearer alice"

	res, err := client.Check(call(alice), &healthpb.HealthCheckRequest{Service: "wiki"})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", res, err)
	}
	// An error travels in trailers; this one in a trailers-only answer
	// (one HEADERS frame, ending the stream), which the gateway must not
	// split into a head flushed at once and an end of stream without the
	// status. That happened to a few percent of them: ask many times.
	for i := range 50 {
		if _, err := client.Check(call(alice), &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
			t.Fatalf("unknown service, call %d: %v", i, err)
		}
	}
	// A server stream.
	stream, err := client.Watch(call(alice), &healthpb.HealthCheckRequest{Service: "wiki"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := stream.Recv(); err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v %v", res, err)
	}
	hs.SetServingStatus("wiki", healthpb.HealthCheckResponse_NOT_SERVING)
	if res, err := stream.Recv(); err != nil || res.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch update: %v %v", res, err)
	}
	// Refusals reach gRPC clients as HTTP statuses it maps.
	if _, err := client.Check(call(""), &healthpb.HealthCheckRequest{Service: "wiki"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no credentials: %v", err)
	}
	if _, err := client.List(call(alice), &healthpb.HealthListRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("denied: %v", err)
	}
}

func tlsConfig(roots *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: roots} }

// TestFullDuplex streams a body back while it is still being sent: an
// HTTP/1.1 echo where neither side may wait for the other to finish.
func TestFullDuplex(t *testing.T) {
	const size = 32 << 20
	l := newLockstep(4 << 20)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(200)
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	})
	h := streamHarness(t, echo, nil)
	req, _ := http.NewRequest("POST", h.srv.URL+"/echo", &source{l: l, left: size})
	req.Header.Set("Authorization", "Bearer alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var got int64
	for {
		n, err := resp.Body.Read(buf)
		got += int64(n)
		l.consumed(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	if got != size {
		t.Fatalf("echoed %d bytes of %d", got, size)
	}
}

// earlyAnswer is earlyUpstream's answer.
const earlyAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly"

// earlyUpstream answers every request as soon as it has its head, and only
// then reads its body: an upstream that refuses an upload before reading
// it, or streams its answer.
func earlyUpstream(t *testing.T, answer string) *url.URL {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, answer); err != nil {
						return
					}
					if _, err := io.Copy(io.Discard, req.Body); err != nil {
						return
					}
				}
			}()
		}
	}()
	return mustURL("http://" + ln.Addr().String())
}

// TestEarlyAnswer: the upstream answers while the client is still sending
// the body, and the gateway is done with the request before the client
// sends the rest. Nothing may read the body after the handler returned:
// net/http reads the next request from the connection then, and a read
// racing it crashed the connection ("invalid concurrent Body.Read call").
func TestEarlyAnswer(t *testing.T) {
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{appARN("/")}},
		Routes:  []Route{{Name: "app", Upstreams: []*url.URL{earlyUpstream(t, earlyAnswer)}}},
	})
	states := make(chan http.ConnState, 16)
	front := serveGateway(t, h.gw, func(s *http.Server) {
		s.ConnState = func(_ net.Conn, state http.ConnState) { states <- state }
	})
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", front.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	send := func(c net.Conn, s string) {
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
	}
	receive := func(br *bufio.Reader) *http.Response {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != "early" {
			t.Fatalf("%d %q %v", resp.StatusCode, body, err)
		}
		return resp
	}
	// wait waits for the connection to get to one of the states.
	wait := func(want ...http.ConnState) http.ConnState {
		for {
			select {
			case s := <-states:
				if slices.Contains(want, s) {
					return s
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the connection never got to %v", want)
			}
		}
	}
	const head = "POST /upload HTTP/1.1\r\nHost: app.example\r\nAuthorization: Bearer alice\r\nContent-Length: 10\r\n\r\n"

	c, br := dial()
	send(c, head+"hello") // half the body
	resp := receive(br)
	// The gateway is done with the request (it is counted when its
	// handler returns) while half the body is still to come.
	h.waitRequests("app", "POST", "200", 1)
	send(c, "world")
	if !resp.Close {
		// Kept alive: the server must be ready for the next request.
		if s := wait(http.StateIdle, http.StateClosed); s != http.StateIdle {
			t.Fatal("the connection was closed after an answer that kept it")
		}
		send(c, "GET /next HTTP/1.1\r\nHost: app.example\r\nAuthorization: Bearer alice\r\n\r\n")
		receive(br)
		return
	}
	// The answer closed the connection: the server reads what is left of
	// the body, then closes it.
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after an answer closing the connection: %q %v", b, err)
	}
	wait(http.StateClosed)
	// And the gateway serves the next request.
	c, br = dial()
	send(c, "GET /next HTTP/1.1\r\nHost: app.example\r\nAuthorization: Bearer alice\r\n\r\n")
	receive(br)
	h.waitRequests("app", "GET", "200", 1)
}

// TestSwitchBeforeBody: an upstream that switches protocols before it has
// the whole request body is refused. The rest of the body would be read
// from the connection the proxy hands over to the new protocol, racing
// the proxy's own reads.
func TestSwitchBeforeBody(t *testing.T) {
	h := newHarness(t, Config{
		Decider: &prefixDecider{allow: []string{appARN("/")}},
		Routes: []Route{{Name: "app", Upstreams: []*url.URL{
			earlyUpstream(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n"),
		}}},
	})
	c, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "POST /switch HTTP/1.1\r\nHost: app.example\r\nAuthorization: Bearer alice\r\n"+
		"Connection: Upgrade\r\nUpgrade: test\r\nContent-Length: 10\r\n\r\nhello"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || !resp.Close {
		t.Fatalf("status %d, close %v: %s", resp.StatusCode, resp.Close, body)
	}
	if _, err := io.WriteString(c, "world"); err != nil {
		t.Fatal(err)
	}
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the refusal: %q %v", b, err)
	}
}

// TestKeepAliveAfterBody: a body the upstream read before answering (as
// upstreams do) leaves the client's connection open for the next request.
func TestKeepAliveAfterBody(t *testing.T) {
	h, up := appHarness(t, nil)
	c, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	const head = "Host: app.example\r\nAuthorization: Bearer alice\r\n"
	for _, req := range []string{
		"POST /app/length HTTP/1.1\r\n" + head + "Content-Length: 5\r\n\r\nhello",
		"POST /app/chunked HTTP/1.1\r\n" + head + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET /app/last HTTP/1.1\r\n" + head + "\r\n",
	} {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != "hello from app" || resp.Close {
			t.Fatalf("%.20q: %d %q %v, close %v", req, resp.StatusCode, body, err, resp.Close)
		}
	}
	if n := len(up.requests()); n != 3 {
		t.Errorf("%d requests forwarded", n)
	}
}
