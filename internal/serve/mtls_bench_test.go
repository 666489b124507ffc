package serve

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/ztgate/ztgate/internal/config"
	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

// benchCA opens a CA on a fresh SQLite store and issues a client SVID.
func benchCA(b *testing.B) (*node, tls.Certificate, *x509.CertPool) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlstore.Open(ctx, sqlstore.Options{Driver: sqlstore.SQLite, Path: filepath.Join(dir, "ztgate.db"), Node: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	kek, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ca, err := pki.Open(ctx, pki.Config{Store: st, KEK: kek, TrustDomain: "example.org"})
	if err != nil {
		b.Fatal(err)
	}
	n := &node{cfg: config.Default(), dir: datadir.Dir(dir), log: slog.New(slog.DiscardHandler), ca: ca}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	id, _ := pki.ParseID("spiffe://example.org/web")
	chain, err := ca.IssueSVID(ctx, csr, id, 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	client := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		client.Certificate = append(client.Certificate, c.Raw)
	}
	roots := x509.NewCertPool()
	for _, c := range ca.Bundle().X509Authorities() {
		roots.AddCert(c)
	}
	return n, client, roots
}

// serveTLS serves h with tc on a loopback port and returns the address.
func serveTLS(b *testing.B, tc *tls.Config, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: tc, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go srv.Serve(tls.NewListener(ln, tc))
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// BenchmarkMTLSHandshake is a new mutually authenticated TLS 1.3
// connection and one request per iteration, 2 concurrent clients: through
// ztgate's TLS listener (certificate from its CA, the SVID verified
// against the bundle with revocation at the handshake, and again by the
// mtls authenticator for the request) against its peer, a bare Go TLS
// server with RequireAndVerifyClientCert on the same roots.
func BenchmarkMTLSHandshake(b *testing.B) {
	n, client, roots := benchCA(b)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ztgate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := (mtlsGateway{n: n}).Authenticate(r, nil); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	})
	n.cfg.Gateway.TLS.Names = "127.0.0.1"
	tc, err := n.tlsConfig()
	if err != nil {
		b.Fatal(err)
	}
	tc.NextProtos = []string{"http/1.1"}
	// The bare server's certificate: the same CA, issued once.
	sc, err := (&serverCerts{n: n, names: []string{"127.0.0.1"}}).get(nil)
	if err != nil {
		b.Fatal(err)
	}
	bare := &tls.Config{Certificates: []tls.Certificate{*sc}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots, MinVersion: tls.VersionTLS12}
	for _, tcase := range []struct {
		name string
		tc   *tls.Config
		h    http.Handler
	}{{"bare", bare, ok}, {"ztgate", tc, ztgate}} {
		b.Run(tcase.name, func(b *testing.B) {
			addr := serveTLS(b, tcase.tc, tcase.h)
			b.SetParallelism(1)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctc := &tls.Config{Certificates: []tls.Certificate{client}, RootCAs: roots, ServerName: "127.0.0.1"}
				tr := &http.Transport{TLSClientConfig: ctc, DisableKeepAlives: true}
				c := &http.Client{Transport: tr}
				for pb.Next() {
					resp, err := c.Get("https://" + addr + "/")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}
