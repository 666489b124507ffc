package device

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/pki"
)

// localDevice is an enrolled device as its directory holds it.
type localDevice struct {
	state deviceState
	chain []*x509.Certificate
	key   crypto.Signer
}

// loadDevice reads the device enrolled in dir. When the chain is not for
// the key but for the pending key, a renewal stopped between writing the
// two: the pending key becomes the key.
func loadDevice(dir string) (*localDevice, error) {
	stateText, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("no enrolled device in %s: %w", dir, err)
	}
	var ld localDevice
	if err := json.Unmarshal(stateText, &ld.state); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	svid, key, err := pki.ParseSVIDPEM(certPEM, keyPEM)
	if errors.Is(err, pki.ErrKeyMismatch) {
		svid, key, err = completeRenewal(dir, certPEM, err)
	}
	if err != nil {
		return nil, err
	}
	ld.chain, ld.key = svid.Certificates, key.Signer()
	return &ld, nil
}

// completeRenewal makes the pending key the key when the chain is for it;
// else it returns mismatch, the error that brought it here.
func completeRenewal(dir string, certPEM []byte, mismatch error) (*pki.SVID, *pki.PrivateKey, error) {
	pending := filepath.Join(dir, PendingKeyFile)
	keyPEM, err := os.ReadFile(pending)
	if err != nil {
		return nil, nil, mismatch
	}
	svid, key, err := pki.ParseSVIDPEM(certPEM, keyPEM)
	if err != nil {
		return nil, nil, mismatch
	}
	if err := os.Rename(pending, filepath.Join(dir, KeyFile)); err != nil {
		return nil, nil, err
	}
	if err := datadir.SyncDir(dir); err != nil {
		return nil, nil, err
	}
	return svid, key, nil
}

// RenewOptions is what RenewDir needs. Dir is required.
type RenewOptions struct {
	// Dir is the enrolled device's directory (enroll --out).
	Dir string
	// Server is the node's URL: the one the device enrolled with when
	// empty.
	Server string
	// CAFile holds the PEM certificates to trust for the server: the
	// system's when empty. HTTPClient, when set, is used instead.
	CAFile     string
	HTTPClient *http.Client
	// Force renews whatever the certificate's age.
	Force bool
	// Clock is time.Now when nil: it decides the certificate's age and
	// signs the request.
	Clock func() time.Time
}

// RenewIn renews the certificate of the device enrolled in dir once it is
// past half of its life, with server (the node it enrolled with when
// empty), trusting the PEM certificates of caFile for it (the system's
// when empty). It returns whether it renewed, and when the certificate
// the directory now holds expires. See RenewDir.
func RenewIn(ctx context.Context, dir, server, caFile string) (renewed bool, notAfter time.Time, err error) {
	return RenewDir(ctx, RenewOptions{Dir: dir, Server: server, CAFile: caFile})
}

// RenewDir renews the certificate of the device enrolled in o.Dir when it
// is past half of its life (at any age with o.Force), so that a device
// run from a daily timer renews long before expiry and a node may be down
// a while without harm. The device gets a new key (ECDSA P-256) with
// every renewal.
//
// The directory is changed in place, each file written whole (0600) or
// not at all: the new key first, as PendingKeyFile, before the request is
// sent; the new chain over CertFile once the answer checks out; and last
// the pending key renamed over KeyFile. A renewal stopped anywhere leaves
// a directory that works with the old key or that the next command
// completes (loadDevice), and a request whose answer was lost is sent
// again with the same pending key, which the server answers with the
// chain it issued for it.
func RenewDir(ctx context.Context, o RenewOptions) (renewed bool, notAfter time.Time, err error) {
	now := time.Now
	if o.Clock != nil {
		now = o.Clock
	}
	ld, err := loadDevice(o.Dir)
	if err != nil {
		return false, time.Time{}, err
	}
	leaf := ld.chain[0]
	if !o.Force && now().Before(halfLife(leaf)) {
		return false, leaf.NotAfter, nil
	}
	server := o.Server
	if server == "" {
		server = ld.state.Server
	}
	if err := checkServerURL(server); err != nil {
		return false, leaf.NotAfter, err
	}
	hc := o.HTTPClient
	if hc == nil {
		if hc, err = httpClient(serverCA(o.Dir, o.CAFile)); err != nil {
			return false, leaf.NotAfter, err
		}
	}
	newKey, err := pendingKey(o.Dir)
	if err != nil {
		return false, leaf.NotAfter, err
	}
	chain, err := renewAt(ctx, server, hc, ld.key, ld.chain, newKey, now())
	if err != nil {
		return false, leaf.NotAfter, err
	}
	if err := datadir.WriteFile(filepath.Join(o.Dir, CertFile), []byte(chainPEM(chain)), 0o600); err != nil {
		return false, leaf.NotAfter, err
	}
	if err := os.Rename(filepath.Join(o.Dir, PendingKeyFile), filepath.Join(o.Dir, KeyFile)); err != nil {
		// Another command reading the directory meanwhile may have
		// completed the renewal itself (loadDevice).
		if ld, lerr := loadDevice(o.Dir); !errors.Is(err, fs.ErrNotExist) || lerr != nil || !sameKey(ld.key.Public(), newKey.Public()) {
			return false, leaf.NotAfter, err
		}
	}
	if err := datadir.SyncDir(o.Dir); err != nil {
		return false, leaf.NotAfter, err
	}
	return true, chain[0].NotAfter, nil
}

// halfLife is when a certificate is past half of its life.
func halfLife(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2)
}

// pendingKey returns the key of PendingKeyFile in dir, made and written
// first when there is none.
func pendingKey(dir string) (crypto.Signer, error) {
	path := filepath.Join(dir, PendingKeyFile)
	keyPEM, err := os.ReadFile(path)
	switch {
	case err == nil:
		block, _ := pem.Decode(keyPEM)
		if block == nil || block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("%s holds no PKCS#8 key: remove it to renew with a new key", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s holds no PKCS#8 key: remove it to renew with a new key", path)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: %T keys cannot sign", path, k)
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writeKey(path, key); err != nil {
		return nil, err
	}
	return key, nil
}

// writeKey writes key to path as PKCS#8 PEM, mode 0600, atomically.
func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return datadir.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}
