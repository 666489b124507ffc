package serve

// End-to-end tests of what streams through a real "ztgate serve" gateway:
// WebSockets, gRPC over h2c, server-sent events and a large upload, each
// to an upstream of the test's own, signed with SigV4 as the development
// administrator.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/net/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// emptySHA256 is the payload hash of a request without a body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// unsignedPayload is the x-amz-content-sha256 of a body left out of the
// signature, which the gateway then streams instead of reading.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// signV4 signs req for execute-api as an SDK would; payloadHash is the
// body's hex SHA-256 or UNSIGNED-PAYLOAD (then also sent, and signed, as
// x-amz-content-sha256).
func signV4(t *testing.T, req *http.Request, creds aws.Credentials, payloadHash string) {
	t.Helper()
	if payloadHash == unsignedPayload {
		req.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "execute-api", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// sigv4RPC signs every gRPC call with SigV4 for execute-api, over the
// call's path, with the message bodies unsigned: gRPC's per-RPC
// credentials see the method but not the framed body, and the gateway
// accepts UNSIGNED-PAYLOAD.
type sigv4RPC struct{ creds aws.Credentials }

var _ credentials.PerRPCCredentials = sigv4RPC{}

func (s sigv4RPC) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || len(uri) == 0 {
		return nil, errors.New("no request info")
	}
	u, err := url.Parse(uri[0])
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+u.Host+ri.Method, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
	if err := v4.NewSigner().SignHTTP(ctx, s.creds, req, unsignedPayload, "execute-api", "us-east-1", time.Now()); err != nil {
		return nil, err
	}
	return map[string]string{
		"authorization":        req.Header.Get("Authorization"),
		"x-amz-date":           req.Header.Get("X-Amz-Date"),
		"x-amz-content-sha256": unsignedPayload,
	}, nil
}

func (sigv4RPC) RequireTransportSecurity() bool { return false }

// streamLockstep lets a writer run at most window bytes ahead of a
// reader: a gateway that buffered a body whole would stall them both.
type streamLockstep struct {
	written, read atomic.Int64
	window        int64
	progress      chan struct{}
}

func newStreamLockstep(window int64) *streamLockstep {
	return &streamLockstep{window: window, progress: make(chan struct{}, 1)}
}

func (l *streamLockstep) consumed(n int) {
	l.read.Add(int64(n))
	select {
	case l.progress <- struct{}{}:
	default:
	}
}

// streamSource produces left bytes of a fixed pattern, never more than
// the lockstep's window ahead of what the upstream consumed.
type streamSource struct {
	l    *streamLockstep
	left int64
	pos  int64
}

func (s *streamSource) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	for s.l.written.Load()-s.l.read.Load() > s.l.window {
		select {
		case <-s.l.progress:
		case <-time.After(15 * time.Second):
			return 0, fmt.Errorf("stalled with %d bytes sent and %d received upstream: the body is being buffered",
				s.l.written.Load(), s.l.read.Load())
		}
	}
	n := min(int64(len(p)), s.left, 256<<10)
	for i := range p[:n] {
		p[i] = byte((s.pos + int64(i)) % 251)
	}
	s.pos += n
	s.left -= n
	s.l.written.Add(n)
	return int(n), nil
}

// streamNode starts a development node (for the administrator's key)
// whose configuration has the routes given as YAML list items.
func streamNode(t *testing.T, routes string) (*proc, aws.Credentials) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("log:\n  level: debug\ngateway:\n  routes:\n"+routes), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, "--dev", "--config", cfg)
	p.waitReady(true, 10*time.Second)
	key, secret := readCredentials(t, filepath.Join(dir, adminCredentials))
	return p, aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
}

// TestGatewayStreams sends what must stream through the gateway of a real
// node, each to its own route and upstream, as the development
// administrator with SigV4: a WebSocket echo, gRPC unary and server-stream
// calls to an h2c upstream, server-sent events that arrive one by one,
// and a 50 MiB upload with an unsigned payload that is never held whole.
func TestGatewayStreams(t *testing.T) {
	// The WebSocket echo notes what reached it.
	var wsSaw atomic.Value
	ws := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		r := c.Request()
		wsSaw.Store(fmt.Sprintf("path=%s assertion=%t authorization=%q", r.URL.Path, r.Header.Get("X-Ztgate-Assertion") != "", r.Header.Get("Authorization")))
		io.Copy(c, c)
	}))
	t.Cleanup(ws.Close)

	// Server-sent events: the next is written only once the client has
	// read the last, so a gateway that buffered would stall.
	next := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		for i := range 3 {
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
				return
			}
		}
	}))
	t.Cleanup(sse.Close)

	// The upload's upstream counts and hashes what it receives.
	const uploadSize = 50 << 20
	lock := newStreamLockstep(16 << 20)
	upload := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		buf := make([]byte, 64<<10)
		var total int64
		for {
			n, err := r.Body.Read(buf)
			h.Write(buf[:n])
			total += int64(n)
			lock.consumed(n)
			if err != nil {
				break
			}
		}
		json.NewEncoder(w).Encode(map[string]any{
			"bytes": total, "sha256": hex.EncodeToString(h.Sum(nil)), "assertion": r.Header.Get("X-Ztgate-Assertion") != "",
			"contentSha256": r.Header.Get("X-Amz-Content-Sha256"), "authorization": r.Header.Get("Authorization"),
		})
	}))
	t.Cleanup(upload.Close)

	// gRPC's health service, over h2c.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("wiki", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	p, admin := streamNode(t, fmt.Sprintf(`    - name: ws
      path_prefix: /ws
      upstreams: [%q]
    - name: events
      path_prefix: /events
      upstreams: [%q]
    - name: upload
      path_prefix: /upload
      upstreams: [%q]
    - name: grpc
      path_prefix: /grpc.health.v1.Health
      h2c: true
      upstreams: ["http://%s"]
`, ws.URL, sse.URL, upload.URL, lis.Addr()))
	base := "http://" + p.addr

	t.Run("websocket", func(t *testing.T) {
		cfg, err := websocket.NewConfig("ws://"+p.addr+"/ws/echo", "http://"+p.addr+"/")
		if err != nil {
			t.Fatal(err)
		}
		// Unsigned: refused before the upstream.
		if _, err := websocket.DialConfig(cfg); err == nil {
			t.Fatal("an unsigned upgrade was let through")
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/ws/echo", nil)
		signV4(t, req, admin, emptySHA256)
		cfg.Header = http.Header{"Authorization": req.Header.Values("Authorization"), "X-Amz-Date": req.Header.Values("X-Amz-Date")}
		c, err := websocket.DialConfig(cfg)
		if err != nil {
			t.Fatalf("signed upgrade: %v", err)
		}
		defer c.Close()
		for i := range 3 {
			msg := fmt.Sprintf("message %d", i)
			if err := websocket.Message.Send(c, msg); err != nil {
				t.Fatal(err)
			}
			var got string
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := websocket.Message.Receive(c, &got); err != nil || got != msg {
				t.Fatalf("echo %d: %q, %v", i, got, err)
			}
		}
		if got, want := wsSaw.Load(), `path=/ws/echo assertion=true authorization=""`; got != want {
			t.Errorf("the upstream saw %v, want %s", got, want)
		}
	})

	t.Run("grpc", func(t *testing.T) {
		// The gateway accepts SigV4 for any service name, with the
		// payload unsigned; gRPC's per-RPC credentials sign each call.
		// Without TLS a gRPC client speaks HTTP/2 with prior knowledge
		// (h2c), so the node's listener must accept it, as
		// docs/gateway.md says it does.
		conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(sigv4RPC{creds: admin}))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := healthpb.NewHealthClient(conn)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "wiki"})
		if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check through the node at %s: %v %v", p.addr, res, err)
		}
		stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "wiki"})
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
	})

	t.Run("server-sent events", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, base+"/events/feed", nil)
		req.Header.Set("Accept", "text/event-stream")
		signV4(t, req, admin, emptySHA256)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			got := make(chan string, 1)
			go func() {
				var ev string
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\n" {
						break
					}
					ev += line
				}
				got <- ev
			}()
			select {
			case ev := <-got:
				if want := fmt.Sprintf("id: %d\ndata: event %d\n", i, i); ev != want {
					t.Fatalf("event %d: %q, want %q", i, ev, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("event %d was not passed on as it came", i)
			}
			next <- struct{}{}
		}
	})

	t.Run("upload", func(t *testing.T) {
		want := sha256.New()
		io.Copy(want, &streamSource{l: newStreamLockstep(1 << 62), left: uploadSize})
		req, _ := http.NewRequest(http.MethodPut, base+"/upload/big.bin", &streamSource{l: lock, left: uploadSize})
		req.ContentLength = uploadSize
		req.Header.Set("Content-Type", "application/octet-stream")
		signV4(t, req, admin, unsignedPayload)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var got struct {
			Bytes         int64
			SHA256        string
			Assertion     bool
			ContentSHA256 string
			Authorization string
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if got.Bytes != uploadSize || got.SHA256 != hex.EncodeToString(want.Sum(nil)) || !got.Assertion || got.Authorization != "" {
			t.Fatalf("the upstream received %+v, want %d bytes hashing to %x, an assertion and no Authorization", got, uploadSize, want.Sum(nil))
		}
		t.Logf("%d bytes through the gateway; x-amz-content-sha256 upstream %q", got.Bytes, got.ContentSHA256)

	})
}
