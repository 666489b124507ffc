package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/datadir"
)

// Command is "ztgate ca": the running node's certificate authority,
// through its control socket.
func Command() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Show the certificate authority, issue and revoke certificates",
		Long: `The certificate authority of the running node at --data-dir (through its
owner-only control socket): its trust domain and SPIFFE trust bundle,
X.509-SVIDs issued by hand (for services that do not run ztgate agent),
and revocation, which every node refuses at once. Issuing and revoking
are recorded in the audit log.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "data-dir", datadir.Default, "data directory of the running node")
	client := func() (*control.Client, error) {
		d, err := datadir.Abs(dir)
		if err != nil {
			return nil, err
		}
		return control.NewClient(d.Socket()), nil
	}

	var format string
	show := &cobra.Command{
		Use:   "show [--format text|bundle|pem]",
		Short: "Print the trust domain and the trust bundle",
		Long: `Print the trust domain and the trust bundle. --format bundle prints the
bundle alone in the SPIFFE format (for go-spiffe, Envoy, SPIRE
federation); --format pem prints the root certificates in PEM (for curl
--cacert, openssl -CAfile).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var info InfoJSON
			if err := c.Do(cmd.Context(), http.MethodGet, ControlPrefix, nil, &info); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "bundle":
				var b bytes.Buffer
				if err := json.Indent(&b, info.Bundle, "", "  "); err != nil {
					return err
				}
				fmt.Fprintln(out, b.String())
			case "pem":
				fmt.Fprint(out, info.RootsPEM)
			case "text":
				fmt.Fprintf(out, "trust domain: %s\nroots:\n%ssigning chain:\n%sbundle (SPIFFE format):\n", info.TrustDomain, info.RootsPEM, info.ChainPEM)
				var b bytes.Buffer
				if err := json.Indent(&b, info.Bundle, "", "  "); err != nil {
					return err
				}
				fmt.Fprintln(out, b.String())
			default:
				return fmt.Errorf("--format %q: choose text, bundle or pem", format)
			}
			return nil
		},
	}
	show.Flags().StringVar(&format, "format", "text", "text, bundle (SPIFFE JSON) or pem (root certificates)")

	var spiffeID, csrFile, outDir string
	var ttl time.Duration
	var force bool
	issue := &cobra.Command{
		Use:   "issue --spiffe-id ID (--out DIR | --csr FILE)",
		Short: "Issue an X.509-SVID",
		Long: `Issue an X.509-SVID for a SPIFFE ID of the trust domain. With --out, a new
ECDSA P-256 key is made and DIR receives svid.pem (the certificate and
its chain), svid.key (the key, mode 0600) and bundle.pem (the roots).
With --csr, the certificate request in FILE (PEM) is signed and the
chain printed; the key never leaves its owner.`,
		Example: "  ztgate ca issue --spiffe-id spiffe://ztgate.local/billing --out ./billing\n  curl --cacert billing/bundle.pem --cert billing/svid.pem --key billing/svid.key https://127.0.0.1:8443/",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (csrFile == "") == (outDir == "") {
				return fmt.Errorf("give one of --out DIR (make a key) and --csr FILE (sign a request)")
			}
			if outDir != "" && !force {
				for _, f := range []string{"svid.key", "svid.pem"} {
					if _, err := os.Stat(filepath.Join(outDir, f)); err == nil {
						return fmt.Errorf("%s already holds %s: give --force to replace it", outDir, f)
					}
				}
			}
			c, err := client()
			if err != nil {
				return err
			}
			var key *ecdsa.PrivateKey
			var csrPEM []byte
			if csrFile != "" {
				if csrPEM, err = os.ReadFile(csrFile); err != nil {
					return err
				}
			} else {
				if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
					return err
				}
				der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
				if err != nil {
					return err
				}
				csrPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
			}
			req := IssueJSON{SpiffeID: spiffeID, CSRPEM: string(csrPEM)}
			if cmd.Flags().Changed("ttl") {
				req.TTL = ttl.String() // 0 is refused by the node, not taken for the default
			}
			body, err := json.Marshal(req)
			if err != nil {
				return err
			}
			var out IssuedJSON
			if err := c.Do(cmd.Context(), http.MethodPost, ControlPrefix+"/issue", bytes.NewReader(body), &out); err != nil {
				return err
			}
			if key == nil {
				fmt.Fprint(cmd.OutOrStdout(), out.ChainPEM)
				return nil
			}
			var info InfoJSON
			if err := c.Do(cmd.Context(), http.MethodGet, ControlPrefix, nil, &info); err != nil {
				return err
			}
			kd, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(outDir, 0o700); err != nil {
				return err
			}
			files := []struct {
				name string
				data []byte
				mode os.FileMode
			}{
				{"svid.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600},
				{"svid.pem", []byte(out.ChainPEM), 0o644},
				{"bundle.pem", []byte(info.RootsPEM), 0o644},
			}
			for _, f := range files {
				if err := datadir.WriteFile(filepath.Join(outDir, f.name), f.data, f.mode); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "issued %s, serial %s, valid until %s\n  %s\n  %s (private key)\n  %s (trust bundle roots)\n",
				spiffeID, out.Serial, out.NotAfter.Format(time.RFC3339),
				filepath.Join(outDir, "svid.pem"), filepath.Join(outDir, "svid.key"), filepath.Join(outDir, "bundle.pem"))
			return nil
		},
	}
	issue.Flags().StringVar(&spiffeID, "spiffe-id", "", "the SPIFFE ID to certify, spiffe://TRUST_DOMAIN/PATH (required)")
	issue.Flags().StringVar(&csrFile, "csr", "", "sign this PEM certificate request and print the chain")
	issue.Flags().StringVar(&outDir, "out", "", "make a key and write svid.pem, svid.key and bundle.pem here")
	issue.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, at least 1m (default: ca.svid_ttl; at most ca.max_ttl)")
	issue.Flags().BoolVar(&force, "force", false, "replace the key and certificate already in --out")
	issue.MarkFlagRequired("spiffe-id")

	var serial, reason string
	revoke := &cobra.Command{
		Use:     "revoke --serial HEX [--reason REASON]",
		Short:   "Revoke a certificate on every node",
		Long:    `Revoke a certificate by its serial number (hex, as "ztgate ca issue" and openssl x509 -serial print it): every node refuses it from its next use, and the CRL lists it. Reasons: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn.`,
		Example: "  ztgate ca revoke --serial 3f2a9c... --reason keyCompromise",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			body, err := json.Marshal(RevokeJSON{Serial: serial, Reason: reason})
			if err != nil {
				return err
			}
			var out map[string]string
			if err := c.Do(cmd.Context(), http.MethodPost, ControlPrefix+"/revoke", bytes.NewReader(body), &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate %s revoked\n", serial)
			return nil
		},
	}
	revoke.Flags().StringVar(&serial, "serial", "", "serial number of the certificate, hex (required)")
	revoke.Flags().StringVar(&reason, "reason", "", "why: keyCompromise, superseded, …")
	revoke.MarkFlagRequired("serial")

	cmd.AddCommand(show, issue, revoke)
	return cmd
}
