package workload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// ErrSocketInUse: another server answers on the socket path.
var ErrSocketInUse = errors.New("workload api socket is in use")

const (
	defaultTTL           = time.Hour
	defaultJWTTTL        = 5 * time.Minute
	defaultBundleRefresh = 30 * time.Second
	// maxSocketPath is the longest Unix socket path Linux accepts, less
	// the terminating NUL.
	maxSocketPath = 107
	// stopGrace bounds how long Run waits for calls to finish at shutdown.
	stopGrace = 5 * time.Second
	// maxRecvMsg bounds a request; the largest legitimate one is a
	// JWT-SVID to validate.
	maxRecvMsg = 64 << 10
)

// Config is what New needs.
type Config struct {
	// Socket is the Unix socket's path. Its directory must exist and be
	// controlled by the caller: the socket itself is made 0666, since
	// any local process may ask who it is, and a stale socket there is
	// replaced.
	Socket  string
	Issuer  Issuer  // signs SVIDs and provides the bundle; may also be a JWTIssuer
	Entries Entries // the registration entries
	Clock   Clock   // real time when nil

	Log *slog.Logger // issuance, renewal failures, bundle changes; discarded when nil

	DefaultTTL    time.Duration // X509-SVID lifetime for entries without one; one hour when zero
	JWTTTL        time.Duration // JWT-SVID lifetime; five minutes when zero
	BundleRefresh time.Duration // how often the trust bundles are re-read; 30s when zero
}

// Server is the Workload API of one host's agent.
type Server struct {
	workload.UnimplementedSpiffeWorkloadAPIServer

	cfg      Config
	jwt      JWTIssuer
	rot      *rotator
	creds    peerCredentials
	stopping chan struct{} // closed when Run is shutting down

	mu      sync.Mutex
	running bool
}

var _ workload.SpiffeWorkloadAPIServer = (*Server)(nil)

// New checks cfg and returns a server that Run starts.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Socket == "":
		return nil, errors.New("workload api: no socket path")
	case len(cfg.Socket) > maxSocketPath:
		return nil, fmt.Errorf("workload api: socket path is %d bytes; the limit is %d", len(cfg.Socket), maxSocketPath)
	case cfg.Issuer == nil:
		return nil, errors.New("workload api: no issuer")
	case cfg.Entries == nil:
		return nil, errors.New("workload api: no entries")
	case cfg.DefaultTTL < 0, cfg.JWTTTL < 0, cfg.BundleRefresh < 0:
		return nil, errors.New("workload api: negative duration")
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = defaultTTL
	}
	if cfg.JWTTTL == 0 {
		cfg.JWTTTL = defaultJWTTTL
	}
	if cfg.BundleRefresh == 0 {
		cfg.BundleRefresh = defaultBundleRefresh
	}
	jwt, _ := cfg.Issuer.(JWTIssuer)
	return &Server{
		cfg:      cfg,
		jwt:      jwt,
		rot:      newRotator(&cfg, jwt),
		stopping: make(chan struct{}),
	}, nil
}

// Run serves the Workload API until ctx ends, then closes every stream
// (clients see Unavailable and reconnect to the next agent), waits for
// calls to end and removes the socket. It returns nil after a shutdown
// asked for by ctx. A Server runs once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("workload api: already run")
	}
	s.running = true
	s.mu.Unlock()

	l, err := listen(s.cfg.Socket)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(
		grpc.Creds(s.creds),
		grpc.ChainUnaryInterceptor(unaryGuard),
		grpc.ChainStreamInterceptor(streamGuard),
		grpc.MaxRecvMsgSize(maxRecvMsg),
	)
	workload.RegisterSpiffeWorkloadAPIServer(srv, s)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.rot.load()
	var wg sync.WaitGroup
	wg.Go(func() { s.rot.run(ctx) })

	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	s.cfg.Log.Info("workload api listening", "socket", s.cfg.Socket)

	select {
	case <-ctx.Done():
		err = nil
	case err = <-served:
		err = fmt.Errorf("workload api: %w", err)
	}
	close(s.stopping)
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop() // closes the listener, which removes the socket
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(stopGrace):
		srv.Stop()
		<-stopped
	}
	cancel()
	wg.Wait()
	return err
}

// listen opens the socket, replacing a stale one left by an agent that
// died, but neither another running agent's nor anything not a socket.
func listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("workload api: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrSocketInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("workload api: remove stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("workload api: %w", err)
	}
	// After creation rather than through the umask, which is the whole
	// process's: the socket is briefly narrower than 0666, never wider.
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("workload api: %w", err)
	}
	return l, nil
}

// unaryGuard and streamGuard refuse calls without the security header, as
// the Workload API specification requires: a browser or a server-side
// request forgery can reach a local socket, but cannot set it.
func unaryGuard(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !hasSecurityHeader(ctx) {
		return nil, statusOf(errMissingHeader)
	}
	return h(ctx, req)
}

func streamGuard(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if !hasSecurityHeader(ss.Context()) {
		return statusOf(errMissingHeader)
	}
	return h(srv, ss)
}

func hasSecurityHeader(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("workload.spiffe.io")
	return len(v) == 1 && v[0] == "true"
}
