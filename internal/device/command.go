package device

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/buildinfo"
	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/pki"
)

// Files of an enrolled device's directory, all mode 0600.
const (
	KeyFile   = "device.key"  // the device's private key, PKCS#8 PEM
	CertFile  = "device.crt"  // its certificate chain, PEM, leaf first
	StateFile = "device.json" // its id and server
	// ServerCAFile holds the certificates enroll trusted for the server
	// (its --ca-file), which posture reports and renewals trust after it.
	ServerCAFile = "server-ca.pem"
	// PendingKeyFile holds the key a renewal under way certifies, from
	// before its request is sent until the chain for it is written, so
	// that a renewal whose answer was lost sends the same key again and
	// one cut short is completed (RenewDir).
	PendingKeyFile = "device.key.new"
)

// EnvToken is where "ztgate device enroll" finds the token when --token is
// not given, so that it need not appear on a command line.
const EnvToken = "ZTGATE_ENROLL_TOKEN"

// deviceState is StateFile's content.
type deviceState struct {
	DeviceID string `json:"device_id"`
	SPIFFEID string `json:"spiffe_id"`
	Server   string `json:"server"`
}

// Command returns "ztgate device": enrolling this host and reporting its
// posture, which talk to a node over HTTP(S), and the administrator's
// commands (tokens, devices), which talk to a running node through the
// control socket of its data directory, as "ztgate store" does.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Enroll devices, report their posture, renew their certificates, and manage the device registry",
	}
	cmd.AddCommand(enrollCommand(), postureCommand(), renewCommand(), tokenCommand(), listCommand(), showCommand(), revokeCommand())
	return cmd
}

// httpClient is the device side's client: the system's roots, or only
// the CA certificates of caFile.
func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pemText, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemText) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// serverCA is the CA file to trust for a device's server: caFile when
// given, else the one enroll kept in dir, else none (the system's).
func serverCA(dir, caFile string) string {
	if caFile != "" {
		return caFile
	}
	if kept := filepath.Join(dir, ServerCAFile); fileExists(kept) {
		return kept
	}
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("--server %q: want https://HOST[:PORT]", s)
	}
	if u.Scheme != "https" {
		// The enrollment token is a bearer secret, and the node accepts
		// device calls over TLS only.
		return fmt.Errorf("--server %q: the scheme must be https", s)
	}
	return nil
}

func enrollCommand() *cobra.Command {
	var server, token, out, caFile string
	var force bool
	cmd := &cobra.Command{
		Use:   "enroll --server URL --out DIR [--token TOKEN|-]",
		Short: "Enroll this device with an enrollment token",
		Long: `Make a key for this device (ECDSA P-256), send a certificate request to the
node at --server with the enrollment token, and write the key, the device
certificate chain and the device id to --out (files mode 0600, the
directory 0700). The key never leaves this host.

The token is read from --token, from standard input with --token -, or
from ` + EnvToken + `; it is used once and is worthless afterwards.`,
		Example: "  ZTGATE_ENROLL_TOKEN=ztdev_... ztgate device enroll --server https://ztgate.example.com --out /etc/ztgate/device",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkServerURL(server); err != nil {
				return err
			}
			switch token {
			case "":
				token = os.Getenv(EnvToken)
			case "-":
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				token = line
			}
			token = strings.TrimSpace(token)
			if token == "" {
				return fmt.Errorf("no enrollment token: give --token or set %s", EnvToken)
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			keyPath := filepath.Join(out, KeyFile)
			if _, err := os.Stat(keyPath); err == nil && !force {
				return fmt.Errorf("%s exists: this directory holds an enrolled device (--force to enroll anew)", keyPath)
			}
			hc, err := httpClient(caFile)
			if err != nil {
				return err
			}
			// Read before the token is spent: nothing may fail after.
			var roots []byte
			if caFile != "" {
				if roots, err = os.ReadFile(caFile); err != nil {
					return err
				}
			}
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			id, chain, err := Enroll(cmd.Context(), server, hc, token, key)
			if err != nil {
				return err
			}
			keyDER, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return err
			}
			var certs bytes.Buffer
			for _, c := range chain {
				pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
			}
			svid, err := pki.ParseSVID(chain)
			if err != nil {
				return err
			}
			state, err := json.MarshalIndent(deviceState{DeviceID: id, SPIFFEID: svid.ID.String(), Server: server}, "", "  ")
			if err != nil {
				return err
			}
			files := map[string][]byte{
				KeyFile:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
				CertFile:  certs.Bytes(),
				StateFile: append(state, '\n'),
			}
			if roots != nil {
				files[ServerCAFile] = roots
			} else if err := os.Remove(filepath.Join(out, ServerCAFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			// The key first, the state last: a directory cut short holds
			// no state naming a key it lacks.
			for _, name := range []string{KeyFile, CertFile, ServerCAFile, StateFile} {
				if data, ok := files[name]; ok {
					if err := datadir.WriteFile(filepath.Join(out, name), data, 0o600); err != nil {
						return err
					}
				}
			}
			// A key a renewal of the device enrolled before was making is
			// not this device's.
			if err := os.Remove(filepath.Join(out, PendingKeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled as %s (%s); certificate valid until %s\n", id, svid.ID, chain[0].NotAfter.UTC().Format(time.RFC3339))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "URL of a ztgate node (https://HOST[:PORT]) (required)")
	f.StringVar(&token, "token", "", "the enrollment token, or - to read it from standard input (default: $"+EnvToken+")")
	f.StringVar(&out, "out", "", "directory to write the key, certificate and device id to (required)")
	f.StringVar(&caFile, "ca-file", "", "PEM certificates to trust for --server instead of the system's")
	f.BoolVar(&force, "force", false, "enroll anew even if --out holds an enrolled device's key")
	cmd.MarkFlagRequired("server")
	cmd.MarkFlagRequired("out")
	return cmd
}

func postureCommand() *cobra.Command {
	var server, dir, caFile string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "posture --dir DIR [--server URL]",
		Short: "Collect this Linux host's posture, sign it with the device key and send it",
		Long: `Collect this host's posture (OS version, disk encryption of the root file
system, firewall, screen lock; see the device package's LinuxCollector for
how each is read), sign it with the key of the device enrolled in --dir,
and send it to the node the device enrolled with, or --server.

Run it as root for the firewall to be read (CAP_NET_ADMIN); facts that
cannot be read are reported false. Run it more often than the server's
maximum posture age (one hour by default), from a timer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := LinuxCollector{AgentVersion: buildinfo.Get().Version}.Collect()
			if err != nil {
				return err
			}
			if dryRun {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			res, err := ReportFrom(cmd.Context(), dir, server, caFile, rep)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "posture of %s accepted; compliant: %t\n", res.DeviceID, res.Compliant)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory of the enrolled device (as given to enroll --out) (required)")
	f.StringVar(&server, "server", "", "URL of a ztgate node (default: the one the device enrolled with)")
	f.StringVar(&caFile, "ca-file", "", "PEM certificates to trust for the server instead of the system's")
	f.BoolVar(&dryRun, "dry-run", false, "print the collected report as JSON; sign and send nothing")
	cmd.MarkFlagRequired("dir")
	return cmd
}

// ReportFrom signs rep with the key of the device enrolled in dir and
// sends it to server (the node it enrolled with when empty), trusting the
// PEM certificates in caFile for it (the system's when empty).
func ReportFrom(ctx context.Context, dir, server, caFile string, rep Report) (*PostureResult, error) {
	ld, err := loadDevice(dir)
	if err != nil {
		return nil, err
	}
	if server == "" {
		server = ld.state.Server
	}
	if err := checkServerURL(server); err != nil {
		return nil, err
	}
	jws, err := SignReport(rep, ld.key, ld.chain)
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(serverCA(dir, caFile))
	if err != nil {
		return nil, err
	}
	return SendReport(ctx, server, hc, jws)
}

func renewCommand() *cobra.Command {
	var server, dir, caFile string
	var force bool
	cmd := &cobra.Command{
		Use:   "renew --dir DIR [--server URL] [--ca-file F] [--force]",
		Short: "Renew this device's certificate once it is past half of its life",
		Long: `Renew the certificate of the device enrolled in --dir with the node it
enrolled with, or --server, once the certificate is past half of its life
(at any age with --force): make a new key, send a certificate request for
it signed with the current key, and replace the key and the certificate
chain in --dir (files mode 0600, each written whole). The new certificate
has the same device id; the old one stays valid until it expires.

Run it daily, from a timer: it does nothing before half-life. A device
whose certificate has expired, or that was revoked, cannot renew: enroll it
again with a new token.`,
		Example: "  ztgate device renew --dir /etc/ztgate/device",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			renewed, notAfter, err := RenewDir(cmd.Context(), RenewOptions{Dir: dir, Server: server, CAFile: caFile, Force: force})
			if err != nil {
				return err
			}
			if renewed {
				fmt.Fprintf(cmd.OutOrStdout(), "renewed; certificate valid until %s\n", notAfter.UTC().Format(time.RFC3339))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "not renewed: the certificate, valid until %s, is not past half of its life (--force to renew now)\n", notAfter.UTC().Format(time.RFC3339))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory of the enrolled device (as given to enroll --out) (required)")
	f.StringVar(&server, "server", "", "URL of a ztgate node (default: the one the device enrolled with)")
	f.StringVar(&caFile, "ca-file", "", "PEM certificates to trust for the server instead of the system's")
	f.BoolVar(&force, "force", false, "renew whatever the certificate's age")
	cmd.MarkFlagRequired("dir")
	return cmd
}

// adminFlags are the administrator commands' way to a running node.
type adminFlags struct{ dataDir string }

func (a *adminFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&a.dataDir, "data-dir", datadir.Default, "data directory of the running node")
}

func (a *adminFlags) client() (*adminClient, error) {
	d, err := datadir.Abs(a.dataDir)
	if err != nil {
		return nil, err
	}
	return newAdminClient(d.Socket()), nil
}

// adminCall sends one request to the running node's device
// administration and prints its answer, of type T, as JSON.
func adminCall[T any](cmd *cobra.Command, a *adminFlags, method, path string, body any) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var out T
	if err := c.do(cmd.Context(), method, path, body, &out); err != nil {
		return err
	}
	return printJSON(cmd, out)
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func tokenCommand() *cobra.Command {
	a := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke enrollment tokens (on a running node)",
	}
	a.register(cmd)
	var req TokenCreate
	create := &cobra.Command{
		Use:   "create --name NAME [--owner ARN] [--managed] [--group G]... [--ttl 24h]",
		Short: "Create a one-time enrollment token for one device; it is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminCall[TokenCreated](cmd, a, http.MethodPost, AdminPrefix+"/tokens", req)
		},
	}
	f := create.Flags()
	f.StringVar(&req.Name, "name", "", "the device's name (required)")
	f.StringVar(&req.Owner, "owner", "", "ARN of the user the device belongs to (arn:zt:iam::ACCOUNT:user/NAME); none for shared devices")
	f.BoolVar(&req.Managed, "managed", false, "the organisation manages the device (zt:DeviceManaged)")
	f.StringArrayVar(&req.Groups, "group", nil, "a group of the device (zt:DeviceGroups); repeat for several")
	f.StringVar(&req.TTL, "ttl", "", "how long the token can be used (default 24h, at most 720h)")
	create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use:   "list",
		Short: "List enrollment tokens (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminCall[[]TokenInfo](cmd, a, http.MethodGet, AdminPrefix+"/tokens", nil)
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an enrollment token (tok-...) so that it enrolls nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall[TokenInfo](cmd, a, http.MethodDelete, AdminPrefix+"/tokens/"+url.PathEscape(args[0]), nil)
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func listCommand() *cobra.Command {
	a := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List enrolled devices (on a running node)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminCall[[]Device](cmd, a, http.MethodGet, AdminPrefix, nil)
		},
	}
	a.register(cmd)
	return cmd
}

func showCommand() *cobra.Command {
	a := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a device and its last posture report (on a running node)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall[Device](cmd, a, http.MethodGet, AdminPrefix+"/"+url.PathEscape(args[0]), nil)
		},
	}
	a.register(cmd)
	return cmd
}

func revokeCommand() *cobra.Command {
	a := &adminFlags{}
	var reason string
	cmd := &cobra.Command{
		Use:   "revoke ID [--reason TEXT]",
		Short: "Revoke a device and its certificates, on every node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall[Device](cmd, a, http.MethodPost, AdminPrefix+"/"+url.PathEscape(args[0])+"/revoke", DeviceRevoke{Reason: reason})
		},
	}
	a.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the revocation and in the audit log")
	return cmd
}

// adminClient talks to the administrator's API on a node's control
// socket.
type adminClient struct{ hc *http.Client }

func newAdminClient(socket string) *adminClient {
	return &adminClient{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", socket)
			if err != nil {
				return nil, fmt.Errorf("no running node answers on %s (is \"ztgate serve\" running with this data directory?): %w", socket, err)
			}
			return c, nil
		},
	}}}
}

// do sends in (JSON, when not nil) and decodes a 200 answer into out; a
// refusal is an *APIError.
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://ztgate"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if json.Unmarshal(b, &e) != nil || e.Code == "" {
			return &APIError{Status: resp.StatusCode, Code: fmt.Sprint("HTTP", resp.StatusCode), Message: "the node answered " + resp.Status + " (does it serve the device API on its control socket?)"}
		}
		return &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Message, RequestID: e.RequestID}
	}
	return json.Unmarshal(b, out)
}
