// Package serve wires ztgate's subsystems into a running node: it reads the
// configuration, opens the data directory, the key-encryption key and the
// store, and serves the main listener (health, readiness, metrics, STS) and the
// control socket until SIGINT or SIGTERM. It is the only package that knows
// every subsystem.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/agent"
	"github.com/ztgate/ztgate/internal/assertion"
	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/audit/index"
	"github.com/ztgate/ztgate/internal/config"
	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/device"
	"github.com/ztgate/ztgate/internal/gateway"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/ratelimit"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/signin"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
	"github.com/ztgate/ztgate/internal/sts"
)

// Options are the serve command's flags.
type Options struct {
	ConfigFile string
	DataDir    string
	Listen     string
	Dev        bool
	Stdout     io.Writer
	Stderr     io.Writer
}

// Command returns "ztgate serve".
func Command() *cobra.Command {
	var o Options
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a ztgate node",
		Long: `Run a ztgate node: the main listener (health at /healthz, readiness at
/readyz, Prometheus metrics at /metrics) and the control socket in the data
directory, until SIGINT or SIGTERM, which drain in-flight requests first.

The configuration is --config, else config.yaml in the data directory. With
--dev and no configuration, a working development configuration and a
key-encryption key are written to the data directory first, and the first
--dev start creates an administrator whose access key it writes to
admin.credentials (AWS shared-credentials format, profile "ztgate") for
STS on POST /.`,
		Example: `  ztgate serve --dev
  ztgate serve --dev --data-dir /tmp/zt --listen 127.0.0.1:0
  ztgate serve --config /etc/ztgate/config.yaml --data-dir /var/lib/ztgate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Stdout, o.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigFile, "config", "", "YAML configuration file (default: config.yaml in the data directory)")
	f.StringVar(&o.DataDir, "data-dir", datadir.Default, "where the embedded database, keys and logs live")
	f.StringVar(&o.Listen, "listen", "", "main listener address, overriding the configuration; port 0 picks a free port")
	f.BoolVar(&o.Dev, "dev", false, "write and use a development configuration when the data directory has none")
	return cmd
}

// devListen is the development configuration's address.
const devListen = "127.0.0.1:8080"

// node is one running ztgate process.
type node struct {
	cfg *config.Config
	dir datadir.Dir
	log *slog.Logger
	kek *secret.KEK
	m   *metrics
	// audit is the node's audit log: every component records through it.
	audit *audit.Writer
	mu    sync.Mutex
	st    *sqlstore.Store
	sErr  error
	down  bool
	// iam is the identity directory and policies its snapshot, both made
	// when the store opens.
	iam      *iam.Directory
	policies *iam.Policies
	// stsH and iamH serve STS and IAM; made on first use once the store
	// is open.
	stsH *sts.Handler
	iamH http.Handler
	// web verifies AssumeRoleWithWebIdentity tokens; nil when no issuer
	// is configured.
	web sts.WebIdentity
	// tokens seal and open temporary credentials' session tokens.
	tokens *session.Tokens
	// routes are the gateway's; gw serves them once the store is open,
	// signing upstream assertions with signer.
	gwRoutes  []gateway.Route
	routePols map[string]string
	gw        *gateway.Gateway
	signin    *signin.Service
	signer    *assertion.Signer
	gwErr     error
	gwTried   time.Time
	// revoked holds the store's session revocations, loaded before the
	// store is offered to anything else and followed by revocationLoop.
	revoked session.Revocations
	// ca is the certificate authority and devices the device registry,
	// opened with the store.
	ca      *pki.CA
	devices *device.Registry
	// agents serves the host agents' API and its administration.
	agents *agent.Server
	// handshakeRefusals bounds the audit records of refused client
	// certificates per client address.
	handshakeRefusals *ratelimit.Limiter
}

// Store returns the open store, or why there is none yet.
func (n *node) Store() (store.Store, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st == nil {
		if n.sErr != nil {
			return nil, n.sErr
		}
		return nil, errors.New("connecting")
	}
	return n.st, nil
}

// Run runs a node until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	dir, err := datadir.Abs(o.DataDir)
	if err != nil {
		return err
	}
	cfgFile, err := configFile(dir, o)
	if err != nil {
		return err
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return err
	}
	if o.Listen != "" {
		cfg.Listen = o.Listen
		if err := config.Validate(cfg); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	log := newLogger(cfg.Log, o.Stderr)
	if err := dir.Create(); err != nil {
		return err
	}
	release, err := dir.Lock()
	if err != nil {
		return err
	}
	defer release()

	n := &node{cfg: cfg, dir: dir, log: log}
	n.revoked.Log = log
	// --dev makes keys, an administrator, a demo user and a demo app only
	// in a data directory it set up itself: on any other, it would hand
	// out a full administrator's key to whoever runs it.
	kekFile := dir.Resolve(cfg.Keys.KEKFile)
	if o.Dev {
		if created, err := datadir.EnsureKEK(kekFile); err != nil {
			return err
		} else if created {
			log.Info("created a key-encryption key for development", "file", kekFile)
		}
	}
	if n.kek, err = secret.LoadKEK(kekFile); err != nil {
		return err
	}
	n.m = newMetrics(n)
	if n.web, err = webIdentity(cfg.STS.WebIdentity, log); err != nil {
		return fmt.Errorf("sts.web_identity: %w", err)
	}
	n.tokens = session.New(session.Config{KEK: n.kek})
	if n.gwRoutes, n.routePols, err = gatewayRoutes(cfg.Gateway.Routes, dir.Resolve); err != nil {
		return err
	}
	if err := n.checkRoutes(); err != nil {
		return err
	}
	var demoURL string
	if o.Dev && len(cfg.Gateway.Routes) == 0 {
		stopDemo, err := n.startDemo()
		if err != nil {
			return err
		}
		defer stopDemo()
		demoURL = "http://" + demoHost + ":"
	}

	// The first attempt to open the store is made before listening, so
	// that a broken configuration fails the start. PostgreSQL that is not
	// reachable yet is retried in the background while /readyz says so.
	if err := n.openStore(ctx); err != nil && !errors.Is(err, store.ErrUnavailable) {
		return err
	}
	defer func() {
		n.mu.Lock()
		if n.st != nil {
			n.st.Close()
		}
		n.mu.Unlock()
	}()

	mode := audit.Sync
	if cfg.Audit.Mode == "async" {
		mode = audit.Async
	}
	n.audit, err = audit.Open(audit.Options{
		Dir:         dir.Path(audit.DirName),
		Node:        nodeName(cfg),
		KEK:         n.kek,
		Mode:        mode,
		SegmentSize: int64(cfg.Audit.SegmentSizeMiB) << 20,
		SegmentAge:  cfg.Audit.SegmentAge.D(),
		Region:      cfg.Audit.Region,
		RetainAge:   cfg.Audit.Retention.MaxAge.D(),
		RetainSize:  int64(cfg.Audit.Retention.MaxSizeMiB) << 20,
		Log:         log,
	})
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	defer func() {
		if err := n.audit.Close(); err != nil {
			log.Error("closing the audit log", "err", err)
		}
	}()

	var adminFile, demoText string
	// --dev makes an administrator and a demo user only where it set the
	// data directory up, or where the store has no user yet: in another
	// deployment it would hand a full administrator's key to whoever
	// runs it, behind the IAM API's back.
	dev := o.Dev
	if dev && !devDir(dir) {
		if dev, err = n.noUsers(ctx); err != nil {
			return err
		}
		if dev {
			if err := datadir.WriteFile(dir.Path(devMarker), []byte("made by ztgate serve --dev\n"), 0o600); err != nil {
				return err
			}
		} else {
			log.Warn("--dev: this data directory was not set up by --dev and its store has users; no development administrator or demo user is made", "dir", string(dir))
		}
	}
	if dev {
		if adminFile, err = n.bootstrapAdmin(ctx); err != nil {
			return fmt.Errorf("development administrator: %w", err)
		}
		if demoURL != "" {
			if demoText, err = n.bootstrapDemoUser(ctx); err != nil {
				return fmt.Errorf("development demo user: %w", err)
			}
		}
	}

	n.handshakeRefusals = ratelimit.New(60, time.Minute, nil)
	if n.agents, err = agent.NewServer(agent.ServerConfig{CA: n.CA, Store: n.Store, Audit: n.audit, Actor: control.Actor, Log: log, MaxTTL: cfg.CA.MaxTTL.D()}); err != nil {
		return fmt.Errorf("agent API: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	addr := ln.Addr().String()
	ctlLn, err := control.Listen(dir.Socket())
	if err != nil {
		ln.Close()
		return err
	}
	defer os.Remove(dir.Socket())

	// HTTP/1.1 and HTTP/2 without TLS (prior knowledge): gRPC clients
	// reach h2c routes through the gateway.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Protocols:         &protocols,
		Handler:           n.routes(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ctlMux := http.NewServeMux()
	caCtl := pki.ControlHandler(pki.ControlConfig{CA: n.CA, Audit: n.audit, Actor: control.Actor, Log: log})
	ctlMux.Handle(pki.ControlPrefix, caCtl)
	ctlMux.Handle(pki.ControlPrefix+"/", caCtl)
	devCtl := n.deviceEndpoint(func(r *device.Registry) http.Handler {
		return device.NewAdminHandler(device.AdminConfig{Registry: r, Audit: n.audit, Log: log, Actor: control.Actor})
	})
	ctlMux.Handle(device.AdminPrefix, devCtl)
	ctlMux.Handle(device.AdminPrefix+"/", devCtl)
	ctlMux.Handle(agent.ControlPrefix+"/", n.agents.ControlHandler())
	ctlMux.HandleFunc("POST "+BootstrapAdminPath, n.bootstrapAdminHandler)
	ctlMux.Handle("/", control.Handler(n, log, n.audit))
	ctl := &http.Server{Handler: ctlMux, ConnContext: control.ConnContext, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 4)
	go func() { errc <- serveOn(srv, ln) }()
	go func() { errc <- serveOn(ctl, ctlLn) }()

	// The TLS listener serves the same: people, SigV4 clients, and
	// workloads and devices with client certificates (mtls routes).
	var tlsSrv *http.Server
	var tlsAddr string
	if cfg.Gateway.TLS.Listen != "" {
		tc, err := n.tlsConfig()
		if err != nil {
			ln.Close()
			ctlLn.Close()
			return err
		}
		tln, err := net.Listen("tcp", cfg.Gateway.TLS.Listen)
		if err != nil {
			ln.Close()
			ctlLn.Close()
			return fmt.Errorf("listen on %s: %w", cfg.Gateway.TLS.Listen, err)
		}
		tlsAddr = tln.Addr().String()
		var tp http.Protocols
		tp.SetHTTP1(true)
		tp.SetHTTP2(true)
		tlsSrv = &http.Server{
			Protocols:         &tp,
			TLSConfig:         tc,
			Handler:           srv.Handler,
			ReadHeaderTimeout: srv.ReadHeaderTimeout,
			IdleTimeout:       srv.IdleTimeout,
			ErrorLog:          srv.ErrorLog,
		}
		go func() { errc <- serveOn(tlsSrv, tls.NewListener(tln, tc)) }()
		if err := datadir.WriteFile(dir.Path(TLSAddrFile), []byte(tlsAddr+"\n"), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", dir.Path(TLSAddrFile), err)
		}
		defer os.Remove(dir.Path(TLSAddrFile))
	}

	bg, cancelBG := context.WithCancel(ctx)
	defer cancelBG()
	go func() {
		if err := n.connectLoop(bg); err != nil {
			errc <- err
		}
	}()
	go n.pruneLoop(bg)
	go n.indexLoop(bg)

	log.Info("ztgate node started", "listen", addr, "data_dir", string(dir), "config", cfgFile, "store", cfg.Store.Driver, "node", nodeName(cfg))
	fmt.Fprintf(o.Stdout, "ztgate is listening on http://%s\n  health:  http://%s/healthz\n  ready:   http://%s/readyz\n  metrics: http://%s/metrics\n", addr, addr, addr, addr)
	if tlsAddr != "" {
		fmt.Fprintf(o.Stdout, "  tls:     https://%s (mutual TLS for workloads and devices; trust bundle at http://%s%s)\n", tlsAddr, addr, BundlePath)
	}
	if adminFile != "" {
		fmt.Fprintf(o.Stdout, "  sts:     http://%s/ (administrator key in %s)\n  try:     AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true aws --profile %s --region us-east-1 --endpoint-url http://%s sts get-caller-identity\n", addr, adminFile, adminFile, adminProfile, addr)
	}
	if demoURL != "" {
		_, port, _ := net.SplitHostPort(addr)
		demoURL += port + "/"
		fmt.Fprintf(o.Stdout, "  demo:    %s (the demo app behind the gateway: open it in a browser)\n", demoURL)
		if demoText != "" {
			fmt.Fprintf(o.Stdout, "  sign in as the demo user (shown once; kept in %s):\n", n.dir.Path(demoCredentials))
			for _, line := range strings.Split(strings.TrimSpace(demoText), "\n") {
				fmt.Fprintf(o.Stdout, "           %s\n", line)
			}
		} else if _, err := os.Stat(n.dir.Path(demoCredentials)); err == nil {
			fmt.Fprintf(o.Stdout, "  sign in as the demo user: see %s\n", n.dir.Path(demoCredentials))
		}
		if adminFile != "" {
			// The secret stays in its file: the command reads it there.
			fmt.Fprintf(o.Stdout, "  try:     curl --aws-sigv4 aws:amz:us-east-1:execute-api --user \"$(sed -n 's/^aws_access_key_id = //p' %s):$(sed -n 's/^aws_secret_access_key = //p' %s)\" %sapi/whoami\n", adminFile, adminFile, demoURL)
		}
	}

	go n.revocationLoop(bg)
	go n.policyLoop(bg)
	go n.keysLoop(bg)
	go n.gatewayLoop(bg)
	go n.caLoop(bg)
	go n.deviceLoop(bg)

	// listen.addr is written last: whoever waits for it finds the node
	// serving, its control socket open and its banner printed.
	if err := datadir.WriteFile(dir.ListenAddr(), []byte(addr+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", dir.ListenAddr(), err)
	}
	defer os.Remove(dir.ListenAddr())

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.D().String())
	case runErr = <-errc:
		log.Error("stopping after a fatal error", "err", runErr)
	}
	n.mu.Lock()
	n.down = true
	n.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests cut off at the shutdown timeout", "err", err)
	}
	if tlsSrv != nil {
		if err := tlsSrv.Shutdown(sctx); err != nil {
			log.Warn("in-flight TLS requests cut off at the shutdown timeout", "err", err)
		}
	}
	ctl.Close() // watch streams never end by themselves
	cancelBG()
	log.Info("stopped")
	return runErr
}

func serveOn(s *http.Server, l net.Listener) error {
	if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// configFile finds the configuration, writing the development one when
// --dev asks for it.
func configFile(dir datadir.Dir, o Options) (string, error) {
	if o.ConfigFile != "" {
		return o.ConfigFile, nil
	}
	if _, err := os.Stat(dir.Config()); err == nil {
		return dir.Config(), nil
	}
	if !o.Dev {
		return "", fmt.Errorf("no configuration: %s does not exist; pass --config FILE, run \"ztgate init %s\", or add --dev", dir.Config(), dir)
	}
	if err := dir.Create(); err != nil {
		return "", err
	}
	if err := datadir.WriteFile(dir.Config(), []byte(config.Dev(devListen)), 0o600); err != nil {
		return "", fmt.Errorf("write development config: %w", err)
	}
	if err := datadir.WriteFile(dir.Path(devMarker), []byte("made by ztgate serve --dev\n"), 0o600); err != nil {
		return "", err
	}
	return dir.Config(), nil
}

// devMarker is the file that says --dev set the data directory up.
const devMarker = "dev"

// devDir reports whether --dev set dir up.
func devDir(dir datadir.Dir) bool {
	_, err := os.Stat(dir.Path(devMarker))
	return err == nil
}

func nodeName(cfg *config.Config) string {
	if cfg.Node.Name != "" {
		return cfg.Node.Name
	}
	h, _ := os.Hostname()
	return h
}

// newLogger logs as text on a terminal and as JSON otherwise.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" || format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func (n *node) storeOptions() sqlstore.Options {
	c := n.cfg.Store
	return sqlstore.Options{
		Driver:         c.Driver,
		Path:           n.dir.Resolve(c.SQLite.Path),
		DSN:            c.Postgres.DSN,
		Node:           nodeName(n.cfg),
		MaxConns:       c.Postgres.MaxConns,
		BusyTimeout:    c.SQLite.BusyTimeout.D(),
		ConnectTimeout: c.Postgres.ConnectTimeout.D(),
		Log:            n.log,
	}
}

// openStore makes one attempt to open the store and check the key.
func (n *node) openStore(ctx context.Context) error {
	s, err := sqlstore.Open(ctx, n.storeOptions())
	var (
		d  *iam.Directory
		ps *iam.Policies
		ca *pki.CA
		dr *device.Registry
	)
	if err == nil {
		if err = checkKEK(ctx, s, n.kek); err == nil {
			// Loaded before the store is published, so that no request
			// is served with revoked sessions unknown.
			err = n.revoked.Load(ctx, s)
		}
		if err == nil {
			d = iam.New(iam.Config{Store: s, KEK: n.kek, Account: n.account(), Log: n.log})
			ps = iam.NewPolicies(d)
			ps.SetResources(n.routePols)
			var changed int
			if changed, err = d.Declare(ctx, declaration(n.cfg.IAM)); err == nil {
				if changed > 0 {
					n.log.Info("applied the identities the configuration declares", "entities", changed)
				}
				err = ps.Load(ctx)
			}
		}
		if err == nil {
			var pc pki.Config
			if pc, err = n.caConfig(); err == nil {
				pc.Store = s
				if ca, err = pki.Open(ctx, pc); err != nil {
					err = fmt.Errorf("certificate authority: %w", err)
				}
			}
		}
		if err == nil {
			dc := n.cfg.Devices
			dr, err = device.Open(ctx, device.Config{Store: s, CA: ca, Log: n.log, CertTTL: dc.CertTTL.D(),
				MaxCertTTL: n.cfg.CA.MaxTTL.D(), TokenTTL: dc.TokenTTL.D(), MaxPostureAge: dc.MaxPostureAge.D()})
			if err != nil {
				err = fmt.Errorf("device registry: %w", err)
			}
		}
		if err != nil {
			s.Close()
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.sErr = err
		return err
	}
	n.st, n.sErr = s, nil
	n.iam, n.policies, n.ca, n.devices = d, ps, ca, dr
	n.log.Info("store open", "driver", s.Driver(), "schema", sqlstore.SchemaVersion(), "revision", s.Head())
	return nil
}

// connectLoop retries opening an unreachable store with backoff. Errors
// other than unavailability are fatal.
func (n *node) connectLoop(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	for {
		if _, err := n.Store(); err == nil {
			return nil
		}
		n.log.Warn("store unavailable; retrying", "err", n.sErr, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
		if err := n.openStore(ctx); err != nil && !errors.Is(err, store.ErrUnavailable) {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// revocationLoop keeps the node's session revocations current through the
// change feed, once the store is open.
func (n *node) revocationLoop(ctx context.Context) {
	for {
		if _, err := n.Store(); err == nil {
			err := n.revoked.Run(ctx)
			if err == nil {
				return
			}
			n.log.Warn("following session revocations failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// policyLoop keeps the policy snapshot in step with the store.
func (n *node) policyLoop(ctx context.Context) {
	n.follow(ctx, "policy changes", func() runner {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.policies == nil {
			return nil
		}
		return n.policies
	})
}

// runner follows the store's change feed until its context ends.
type runner interface{ Run(context.Context) error }

// follow runs what get returns, once there is something (the store is
// open), again after each failure, until ctx ends.
func (n *node) follow(ctx context.Context, what string, get func() runner) {
	for {
		if r := get(); r != nil {
			err := r.Run(ctx)
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("following "+what+" failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// keysLoop keeps the directory's access-key cache in step with the store,
// so that signed requests are verified from memory.
func (n *node) keysLoop(ctx context.Context) {
	n.follow(ctx, "access-key changes", func() runner {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.iam == nil {
			return nil
		}
		return n.iam
	})
}

// keepChanges is how many revisions of change history are kept for nodes
// that fall behind; older entries are pruned.
const keepChanges = 100_000

func (n *node) pruneLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := n.Store()
		if err != nil {
			continue
		}
		if rev, err := s.Revision(ctx); err == nil && rev > keepChanges {
			if err := s.Prune(ctx, rev-keepChanges); err != nil {
				n.log.Warn("pruning the change log failed", "err", err)
			}
		}
	}
}

// indexLoop keeps the audit query store close behind the log, so that
// queries need not index much before answering. With a PostgreSQL store
// it also ships the indexed records to the store's audit table, where
// queries see every node's.
// indexInterval is how often the audit query store takes in new records:
// often, so that each round is short and requests served meanwhile do not
// see a burst of indexing work in their latency.
const indexInterval = time.Second

func (n *node) indexLoop(ctx context.Context) {
	x, err := index.Open(n.dir.Path(audit.DirName))
	if err != nil {
		n.log.Warn("audit query store unavailable; queries will index on demand", "err", err)
		return
	}
	defer x.Close()
	t := time.NewTicker(indexInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := x.Update(ctx, nil); err != nil && ctx.Err() == nil {
			n.log.Warn("indexing the audit log failed", "err", err)
		}
		n.mu.Lock()
		st := n.st
		n.mu.Unlock()
		if st == nil || st.Driver() != sqlstore.Postgres {
			continue // not connected yet, or one node: queries read the index
		}
		// What failed to ship is shipped by a later round.
		if _, err := index.NewTable(st.DB()).Ship(ctx, x); err != nil && ctx.Err() == nil {
			n.log.Warn("shipping audit records to the store failed", "err", err)
		}
	}
}

// kekCheck is where the sealed check value lives.
const kekCheckKind, kekCheckKey = "ztgate", "kek-check"

// checkKEK proves the key-encryption key is the one the store's secrets
// were sealed with, recording a check value on first use. A wrong key is a
// startup error, never silent garbage later.
func checkKEK(ctx context.Context, s store.Store, k *secret.KEK) error {
	r, err := s.Get(ctx, kekCheckKind, kekCheckKey)
	if errors.Is(err, store.ErrNotFound) {
		sealed, serr := secret.NewCheck(k)
		if serr != nil {
			return serr
		}
		_, err = s.Update(ctx, func(tx store.Tx) error {
			_, err := tx.Create(ctx, kekCheckKind, kekCheckKey, sealed)
			return err
		})
		if !errors.Is(err, store.ErrExists) {
			return err // nil: this node sealed the check value
		}
		r, err = s.Get(ctx, kekCheckKind, kekCheckKey) // another node was first
	}
	if err != nil {
		return err
	}
	return secret.VerifyCheck(k, r.Value)
}
