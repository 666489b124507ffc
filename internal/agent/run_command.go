package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/buildinfo"
	"github.com/ztgate/ztgate/internal/device"
)

// DefaultDir is the agent's data directory when none is given.
const DefaultDir = "./ztgate-agent"

// TokenEnv is the environment variable a join token may be given in
// instead of --join-token, which other local users can read in the
// process list.
const TokenEnv = "ZTGATE_JOIN_TOKEN"

// reportPosture collects this host's posture and sends it, signed by the
// device enrolled in dir, every interval until ctx ends, renewing the
// device's certificate past half its life.
func reportPosture(ctx context.Context, log *slog.Logger, dir, caFile string, interval time.Duration) {
	interval = max(interval, 10*time.Second)
	for {
		// The device's certificate is renewed past half its life.
		if renewed, notAfter, err := device.RenewIn(ctx, dir, "", caFile); err != nil && ctx.Err() == nil {
			log.Warn("renewing the device certificate failed; retrying at the next interval", "err", err)
		} else if renewed {
			log.Info("device certificate renewed", "not_after", notAfter)
		}
		rep, err := device.LinuxCollector{AgentVersion: buildinfo.Get().Version}.Collect()
		if err == nil {
			var res *device.PostureResult
			if res, err = device.ReportFrom(ctx, dir, "", caFile, rep); err == nil {
				log.Info("device posture reported", "device_id", res.DeviceID, "compliant", res.Compliant)
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("reporting the device posture failed; retrying at the next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// RunCommand returns "ztgate agent run".
func RunCommand() *cobra.Command {
	var (
		cfg        Config
		token      string
		bundleFile string
		logFormat  string
		logLevel   slog.Level
		deviceDir  string
		deviceCA   string
		interval   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run --server https://HOST:PORT [--join-token TOKEN] [--trust-bundle FILE]",
		Short: "Run the host agent: serve the SPIFFE Workload API to this host's processes",
		Long: `Run the host agent. On its first start it joins the node at --server with a
one-time join token (--join-token, or the ` + TokenEnv + ` environment variable,
which other users cannot read in the process list), making its own ECDSA
P-256 key; it keeps its identity in --data-dir (svid.pem, mode 0600, and
bundle.json) and later starts need no token. It renews its identity at half
of its life.

The server's certificate is verified against --trust-bundle (the output of
"ztgate ca show --format bundle" or --format pem on the node) and, once
joined, against the trust domain's bundle. --insecure-bootstrap joins
without verifying it (trust on first use): whoever answers first, an
attacker on the path included, is trusted from then on. Use it only on a
network you trust.

The Workload API listens on --socket (default DATA_DIR/agent.sock; the data
directory is made mode 0711 so that every local user can reach the socket
but not list the directory). Processes get an X509-SVID for each
registration entry of this agent whose selectors they match; entries are
read every few seconds. With --device-dir (a device enrolled with "ztgate
device enroll"), the agent also reports this host's posture, signed by the
device's key, every --posture-interval. While the server is unreachable, workloads keep the
SVIDs they have, which are renewed once it is back. A revoked agent gets
nothing more and says so in its log. SIGINT or SIGTERM stops it.`,
		Example: `  ZTGATE_JOIN_TOKEN=ztgate-join-... ztgate agent run --server https://ztgate.example:8443 --trust-bundle bundle.json
  ztgate agent run --server https://ztgate.example:8443 --data-dir /var/lib/ztgate-agent --socket /run/ztgate/agent.sock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv(TokenEnv)
			}
			cfg.JoinToken = JoinToken(token)
			if bundleFile != "" {
				data, err := os.ReadFile(bundleFile)
				if err != nil {
					return fmt.Errorf("--trust-bundle: %w", err)
				}
				cfg.TrustBundle = data
			}
			opts := &slog.HandlerOptions{Level: logLevel}
			switch logFormat {
			case "text":
				cfg.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), opts))
			case "json":
				cfg.Log = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), opts))
			default:
				return fmt.Errorf("--log-format %q: choose text or json", logFormat)
			}
			a, err := New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if deviceDir != "" {
				go reportPosture(ctx, cfg.Log, deviceDir, deviceCA, interval)
			}
			err = a.Run(ctx)
			if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
				return nil // stopped while joining
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "the node's TLS listener, https://HOST:PORT (required)")
	f.StringVar(&token, "join-token", "", "one-time join token, for the first start (or $"+TokenEnv+")")
	f.StringVar(&bundleFile, "trust-bundle", "", "the trust domain's bundle (SPIFFE JSON or PEM roots), to verify the server")
	f.BoolVar(&cfg.InsecureBootstrap, "insecure-bootstrap", false, "UNSAFE: join without verifying the server's certificate (trust on first use)")
	f.StringVar(&cfg.Dir, "data-dir", DefaultDir, "the agent's state: its key and SVID (0600), the trust bundle")
	f.StringVar(&cfg.Socket, "socket", "", "the Workload API socket (default DATA_DIR/agent.sock)")
	f.DurationVar(&cfg.SyncInterval, "sync-interval", DefaultSyncInterval, "how often registration entries are read")
	f.StringVar(&deviceDir, "device-dir", "", "report this host's posture, signed by the device enrolled in this directory (ztgate device enroll --out)")
	f.StringVar(&deviceCA, "device-ca-file", "", "PEM roots to trust for the node the device reports to (ztgate ca show --format pem)")
	f.DurationVar(&interval, "posture-interval", 5*time.Minute, "how often the host's posture is reported (with --device-dir)")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	f.TextVar(&logLevel, "log-level", slog.LevelInfo, "debug, info, warn or error")
	cmd.MarkFlagRequired("server")
	return cmd
}
