package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

func TestOpenCreatesCA(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	chain := ca.Chain()
	if len(chain) != 2 {
		t.Fatalf("chain of %d certificates, want intermediate and root", len(chain))
	}
	inter, root := chain[0], chain[1]
	if !selfSigned(root) || !root.IsCA || root.MaxPathLen != 1 {
		t.Errorf("root: self-signed %v, CA %v, max path %d", selfSigned(root), root.IsCA, root.MaxPathLen)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("intermediate not signed by the root: %v", err)
	}
	if !inter.IsCA || inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
		t.Errorf("intermediate: CA %v, max path %d/%v", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
	}
	for _, c := range chain {
		if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
			t.Errorf("%s: key usage %b", c.Subject, c.KeyUsage)
		}
		k, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", c.Subject, c.PublicKey)
		}
		if len(c.URIs) != 1 || c.URIs[0].String() != "spiffe://example.org" {
			t.Errorf("%s: uris %v", c.Subject, c.URIs)
		}
		if c.SerialNumber.BitLen() < 64 {
			t.Errorf("%s: serial %v is not random", c.Subject, c.SerialNumber)
		}
	}
	// The URI name constraint spiffe://example.org, marked critical.
	if len(inter.PermittedURIDomains) != 1 || inter.PermittedURIDomains[0] != testTD || !inter.PermittedDNSDomainsCritical {
		t.Errorf("intermediate name constraints: %v critical %v", inter.PermittedURIDomains, inter.PermittedDNSDomainsCritical)
	}
	if !root.NotAfter.Equal(testNow.Add(DefaultRootTTL).Truncate(time.Second)) || !inter.NotAfter.Equal(testNow.Add(DefaultIntermediateTTL).Truncate(time.Second)) {
		t.Errorf("not after: root %s, intermediate %s", root.NotAfter, inter.NotAfter)
	}
	if n := len(records(t, e.st, KindCA)); n != 1 {
		t.Errorf("%d ca records", n)
	}
	if n := len(records(t, e.st, KindJWTKey)); n != 1 {
		t.Errorf("%d jwt key records", n)
	}

	// Opening again, as after a restart, loads the same CA.
	again := e.open(t)
	if !again.Chain()[0].Equal(inter) || !again.Chain()[1].Equal(root) {
		t.Error("reopening made another CA")
	}
	if !bytes.Equal(again.BundleJSON(), ca.BundleJSON()) {
		t.Errorf("bundles differ:\n%s\n%s", again.BundleJSON(), ca.BundleJSON())
	}
}

func TestOpenConfig(t *testing.T) {
	e := newEnv(t)
	for name, mod := range map[string]func(*Config){
		"no store":            func(c *Config) { c.Store = nil },
		"no kek":              func(c *Config) { c.KEK = nil },
		"no trust domain":     func(c *Config) { c.TrustDomain = "" },
		"bad trust domain":    func(c *Config) { c.TrustDomain = "Example.org" },
		"uri as trust domain": func(c *Config) { c.TrustDomain = "spiffe://example.org" },
		"ttl above max":       func(c *Config) { c.DefaultTTL, c.MaxTTL = 2*time.Hour, time.Hour },
		"negative":            func(c *Config) { c.MaxTTL = -time.Hour },
		"jwt ttl":             func(c *Config) { c.JWTTTL = 2 * time.Hour },
		"max beyond inter":    func(c *Config) { c.MaxTTL, c.IntermediateTTL = 48*time.Hour, 24*time.Hour },
		"inter beyond root":   func(c *Config) { c.IntermediateTTL, c.RootTTL = 3*DefaultRootTTL, DefaultRootTTL },
	} {
		c := e.config()
		mod(&c)
		_, err := Open(context.Background(), c)
		if err == nil {
			t.Errorf("%s: opened", name)
			continue
		}
		checkErr(t, err, ErrConfig)
	}
	if n := len(records(t, e.st, KindCA)); n != 0 {
		t.Errorf("refused configurations wrote %d ca records", n)
	}
}

func TestOpenOtherTrustDomain(t *testing.T) {
	e := newEnv(t)
	e.open(t)
	_, err := Open(context.Background(), Config{Store: e.st, KEK: e.kek, TrustDomain: "other.org", Clock: e.clock.Now})
	checkErr(t, err, ErrConfig)
	if !strings.Contains(err.Error(), `"example.org"`) || !strings.Contains(err.Error(), `"other.org"`) {
		t.Errorf("error does not name both trust domains: %v", err)
	}
}

func TestOpenWrongKEK(t *testing.T) {
	e := newEnv(t)
	e.open(t)
	_, err := Open(context.Background(), Config{Store: e.st, KEK: newKEK(t), TrustDomain: testTD, Clock: e.clock.Now})
	checkErr(t, err, ErrCA)
	if !errors.Is(err, secret.ErrWrongKey) {
		t.Errorf("err = %v, want it to say the key is wrong", err)
	}
}

// TestOpenExpiredCA: a CA whose intermediate expired is reported, not used.
func TestOpenExpiredCA(t *testing.T) {
	e := newEnv(t)
	e.open(t, func(c *Config) { c.IntermediateTTL = 48 * time.Hour })
	e.clock.Advance(49 * time.Hour)
	_, err := Open(context.Background(), e.config())
	checkErr(t, err, ErrCA)
	if !strings.Contains(err.Error(), "expired") {
		t.Errorf("err = %v", err)
	}
}

// TestKeysSealed: the store holds the CA's and the JWT key's private keys
// sealed only; nothing prints them.
func TestKeysSealed(t *testing.T) {
	e := newEnv(t)
	ca := e.open(t)
	m := ca.mat.Load()
	secrets := map[string][]byte{}
	for name, k := range map[string]*PrivateKey{"signing": m.key, "jwt": m.jwt[0].priv} {
		der, err := x509.MarshalPKCS8PrivateKey(k.s)
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = der
		scalar, err := k.s.(*ecdsa.PrivateKey).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		secrets[name+" scalar"] = scalar
	}
	var all []byte
	for _, kind := range []string{KindCA, KindJWTKey} {
		for _, rec := range records(t, e.st, kind) {
			all = append(all, rec.Value...)
		}
	}
	var r caRecord
	if err := json.Unmarshal(records(t, e.st, KindCA)[0].Value, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Key) == 0 || len(r.RootKey) == 0 {
		t.Fatal("the ca record holds no sealed keys")
	}
	var printed bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&printed, nil))
	log.Info("ca", "ca", ca, "key", m.key, "jwt", m.jwt[0].priv)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		fmt.Fprintf(&printed, verb+"\n", ca)
		fmt.Fprintf(&printed, verb+"\n", m.key)
		fmt.Fprintf(&printed, verb+"\n", *m)
		fmt.Fprintf(&printed, verb+"\n", Import{CertPEM: []byte("x"), KeyPEM: KeyPEM("-----BEGIN PRIVATE KEY-----")})
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		if got := fmt.Sprintf(verb, m.key); got != redacted {
			t.Errorf("PrivateKey prints as %q with %s", got, verb)
		}
		if got := fmt.Sprintf(verb, KeyPEM("-----BEGIN PRIVATE KEY-----")); got != redacted {
			t.Errorf("KeyPEM prints as %q with %s", got, verb)
		}
	}
	if js, _ := json.Marshal(struct{ K *PrivateKey }{m.key}); !bytes.Contains(js, []byte(redacted)) {
		t.Errorf("json shows %s", js)
	}
	printed.Write(e.logs.Bytes())
	for name, s := range secrets {
		for _, enc := range [][]byte{s, []byte(fmt.Sprintf("%x", s)), []byte(fmt.Sprint(s)[1:20])} {
			if bytes.Contains(all, enc) {
				t.Errorf("the store holds the %s key in clear", name)
			}
			if bytes.Contains(printed.Bytes(), enc) {
				t.Errorf("printing shows the %s key", name)
			}
		}
	}
	if bytes.Contains(printed.Bytes(), []byte("BEGIN PRIVATE KEY")) {
		t.Error("printing an Import shows its key pem")
	}
	if !strings.Contains(fmt.Sprint(ca), "[pki ca example.org ") {
		t.Errorf("CA prints as %v", ca)
	}
}

// TestTamperedRecord: a sealed key moved to another place, or a
// certificate swapped, is refused.
func TestTamperedRecord(t *testing.T) {
	for name, tamper := range map[string]func(r *caRecord){
		"keys swapped":      func(r *caRecord) { r.Key, r.RootKey = r.RootKey, r.Key },
		"chain reversed":    func(r *caRecord) { r.Chain[0], r.Chain[1] = r.Chain[1], r.Chain[0] },
		"key flipped":       func(r *caRecord) { r.Key[len(r.Key)-1] ^= 1 },
		"certificate junk":  func(r *caRecord) { r.Chain[0] = []byte("junk") },
		"no key":            func(r *caRecord) { r.Key = nil },
		"foreign intermed.": func(r *caRecord) { r.Chain[1] = r.Chain[0] },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.open(t)
			rec := records(t, e.st, KindCA)[0]
			var r caRecord
			if err := json.Unmarshal(rec.Value, &r); err != nil {
				t.Fatal(err)
			}
			tamper(&r)
			v, _ := json.Marshal(r)
			if _, err := store.Put(context.Background(), e.st, KindCA, caKey, v); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), e.config())
			checkErr(t, err, ErrCA)
		})
	}
}

// startTogether opens one CA per store at the same moment and checks that
// they agree.
func startTogether(t *testing.T, stores []store.Store, kek *secret.KEK, clock *fakeClock) []*CA {
	t.Helper()
	cas := make([]*CA, len(stores))
	errs := make([]error, len(stores))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() {
			<-start
			cas[i], errs[i] = Open(context.Background(), Config{Store: st, KEK: kek, TrustDomain: testTD, Clock: clock.Now})
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{KindCA, KindJWTKey} {
		if n := len(records(t, stores[0], kind)); n != 1 {
			t.Fatalf("%d %s records made by %d nodes starting at once", n, kind, len(stores))
		}
	}
	for _, ca := range cas[1:] {
		if !ca.Chain()[0].Equal(cas[0].Chain()[0]) || !bytes.Equal(ca.BundleJSON(), cas[0].BundleJSON()) {
			t.Fatal("nodes disagree on the ca")
		}
	}
	return cas
}

func TestConcurrentStartSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	var stores []store.Store
	for i := range 4 {
		stores = append(stores, openSQLite(t, path, fmt.Sprint("n", i)))
	}
	startTogether(t, stores, newKEK(t), newFakeClock())
}

// TestConcurrentStartPostgres: on PostgreSQL the nodes' transactions
// truly overlap; the losers of Create load the winner's CA.
func TestConcurrentStartPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	var stores []store.Store
	for i := range 4 {
		st, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: sqlstore.Postgres, DSN: dsn, Node: fmt.Sprint("n", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	kek, clock := newKEK(t), newFakeClock()
	cas := startTogether(t, stores, kek, clock)

	// One issues, another verifies; one revokes, another learns of it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cas[1].Run(ctx) }()
	chain, err := cas[0].IssueSVID(ctx, newCSR(t, newP256(t)), mustID(t, "spiffe://example.org/pg"), 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cas[1].VerifySVID(chain); err != nil {
		t.Fatal(err)
	}
	if err := cas[2].Revoke(ctx, chain[0].SerialNumber, ReasonKeyCompromise, "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "revocation over LISTEN/NOTIFY", func() bool { return cas[1].Revoked(chain[0].SerialNumber) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// staleStore misses the CA on its first read, as a node does that reads
// just before another commits.
type staleStore struct {
	store.Store
	once sync.Once
}

func (s *staleStore) Get(ctx context.Context, kind, key string) (store.Record, error) {
	stale := false
	s.once.Do(func() { stale = kind == KindCA })
	if stale {
		return store.Record{}, fmt.Errorf("%s/%s: %w", kind, key, store.ErrNotFound)
	}
	return s.Store.Get(ctx, kind, key)
}

// TestOpenLosesTheRace: a node that finds no CA, but loses the Create to
// one made meanwhile, uses that CA.
func TestOpenLosesTheRace(t *testing.T) {
	e := newEnv(t)
	winner := e.open(t)
	loser, err := Open(context.Background(), Config{Store: &staleStore{Store: e.st}, KEK: e.kek, TrustDomain: testTD, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if !loser.Chain()[0].Equal(winner.Chain()[0]) || len(records(t, e.st, KindCA)) != 1 {
		t.Error("the loser uses another ca")
	}
}

// testCA makes a CA certificate and key outside ztgate, as an operator's
// own PKI would: a root when parent is nil.
func testCA(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, mod func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := newP256(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(20 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	if mod != nil {
		mod(tmpl)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func pemOf(t *testing.T, certs []*x509.Certificate, key *ecdsa.PrivateKey) ([]byte, KeyPEM) {
	t.Helper()
	var cp []byte
	for _, c := range certs {
		cp = append(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	var kp []byte
	if key != nil {
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		kp = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	return cp, kp
}

func TestImportRoot(t *testing.T) {
	e := newEnv(t)
	root, rootKey := testCA(t, "corp root", nil, nil, nil)
	certPEM, keyPEM := pemOf(t, []*x509.Certificate{root}, rootKey)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "ca.key"), keyPEM, 0o600)
	imp, err := ImportFiles(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca := e.open(t, func(c *Config) { c.Import = imp })
	chain := ca.Chain()
	if len(chain) != 2 || !chain[1].Equal(root) || chain[0].CheckSignatureFrom(root) != nil {
		t.Fatal("the intermediate is not made under the imported root")
	}
	if len(chain[0].PermittedURIDomains) != 1 {
		t.Error("the intermediate made under an imported root lacks the name constraint")
	}
	svid, err := ca.IssueSVID(context.Background(), newCSR(t, newP256(t)), mustID(t, "spiffe://example.org/w"), 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySVID(svid, ca.Bundle(), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.VerifySVID(svid); err != nil {
		t.Fatal(err)
	}
	// A sibling CA under the same root, even one that copies the
	// intermediate's name, issues nothing this CA accepts.
	sibling, siblingKey := testCA(t, chain[0].Subject.CommonName, root, rootKey, nil)
	leafKey := newP256(t)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "w"},
		NotBefore: testNow.Add(-time.Minute), NotAfter: testNow.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, URIs: []*url.URL{mustID(t, "spiffe://example.org/w").URL()},
	}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, sibling, &leafKey.PublicKey, siblingKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := x509.ParseCertificate(der)
	if _, err := VerifySVID([]*x509.Certificate{forged, sibling}, ca.Bundle(), e.clock.Now()); err != nil {
		t.Fatalf("the bundle alone should accept the sibling's SVID (it shares the root): %v", err)
	}
	_, err = ca.VerifySVID([]*x509.Certificate{forged, sibling})
	checkErr(t, err, ErrUntrusted)
	// Started again with the same import, the node loads what it stored;
	// with another, it refuses.
	e.open(t, func(c *Config) { c.Import = imp })
	other, otherKey := testCA(t, "other root", nil, nil, nil)
	cp, kp := pemOf(t, []*x509.Certificate{other}, otherKey)
	_, err = Open(context.Background(), Config{Store: e.st, KEK: e.kek, TrustDomain: testTD, Clock: e.clock.Now, Import: &Import{CertPEM: cp, KeyPEM: kp}})
	checkErr(t, err, ErrConfig)
	if _, err := ImportFiles(filepath.Join(dir, "missing.pem"), filepath.Join(dir, "ca.key")); err == nil {
		t.Error("ImportFiles read a missing file")
	}
}

func TestImportIntermediate(t *testing.T) {
	root, rootKey := testCA(t, "corp root", nil, nil, nil)
	inter, interKey := testCA(t, "corp ztgate", root, rootKey, func(c *x509.Certificate) { c.MaxPathLenZero = true })
	certPEM, keyPEM := pemOf(t, []*x509.Certificate{inter, root}, interKey)
	e := newEnv(t)
	ca := e.open(t, func(c *Config) { c.Import = &Import{CertPEM: certPEM, KeyPEM: keyPEM} })
	if c := ca.Chain(); len(c) != 2 || !c[0].Equal(inter) || !c[1].Equal(root) {
		t.Fatal("the imported chain is not the CA's")
	}
	var r caRecord
	if err := json.Unmarshal(records(t, e.st, KindCA)[0].Value, &r); err != nil || !r.Imported || r.RootKey != nil {
		t.Fatalf("record: imported %v, root key %d bytes, %v", r.Imported, len(r.RootKey), err)
	}
	svid, err := ca.IssueSVID(context.Background(), newCSR(t, newP256(t)), mustID(t, "spiffe://example.org/w"), 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(svid) != 2 || !svid[1].Equal(inter) {
		t.Fatal("the svid does not carry the imported intermediate")
	}
	if _, err := VerifySVID(svid, ca.Bundle(), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestImportRefused(t *testing.T) {
	root, rootKey := testCA(t, "corp root", nil, nil, nil)
	inter, interKey := testCA(t, "corp ztgate", root, rootKey, nil)
	notCA, notCAKey := testCA(t, "leaf", root, rootKey, func(c *x509.Certificate) { c.IsCA = false; c.KeyUsage = x509.KeyUsageDigitalSignature })
	expired, expiredKey := testCA(t, "old", root, rootKey, func(c *x509.Certificate) { c.NotAfter = testNow.Add(-time.Minute) })
	excluded, excludedKey := testCA(t, "excl", root, rootKey, func(c *x509.Certificate) { c.PermittedURIDomains = []string{"other.org"} })
	other, _ := testCA(t, "other", nil, nil, nil)
	for name, tc := range map[string]struct {
		certs []*x509.Certificate
		key   *ecdsa.PrivateKey
		why   string
	}{
		"no key":            {[]*x509.Certificate{inter, root}, nil, "no private key"},
		"wrong key":         {[]*x509.Certificate{inter, root}, rootKey, "not the first certificate's"},
		"no root":           {[]*x509.Certificate{inter}, interKey, "not a self-signed root"},
		"not a ca":          {[]*x509.Certificate{notCA, root}, notCAKey, "not a ca"},
		"expired":           {[]*x509.Certificate{expired, root}, expiredKey, "expired"},
		"constraints":       {[]*x509.Certificate{excluded, root}, excludedKey, "do not permit"},
		"wrong root":        {[]*x509.Certificate{inter, other}, interKey, "does not verify"},
		"no certificates":   {nil, interKey, "no pem blocks"},
		"only key as certs": {nil, interKey, "no certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			cp, kp := pemOf(t, tc.certs, tc.key)
			if name == "only key as certs" {
				cp = kp
			}
			if tc.key == nil {
				kp = cp // blocks, but no key
			}
			e := newEnv(t)
			_, err := Open(context.Background(), Config{Store: e.st, KEK: e.kek, TrustDomain: testTD, Clock: e.clock.Now, Import: &Import{CertPEM: cp, KeyPEM: kp}})
			if err == nil {
				t.Fatal("imported")
			}
			checkErr(t, err, ErrConfig)
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("err = %v, want it to say %q", err, tc.why)
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("err quotes pem: %v", err)
			}
			if n := len(records(t, e.st, KindCA)); n != 0 {
				t.Errorf("%d ca records after a refused import", n)
			}
		})
	}
}

// TestRunFollowsNewJWTKey: a JWT key another node adds reaches this node's
// bundle and signing through the change feed.
func TestRunFollowsNewJWTKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	kek, clock := newKEK(t), newFakeClock()
	cas := startTogether(t, []store.Store{openSQLite(t, path, "a"), openSQLite(t, path, "b")}, kek, clock)
	a, b := cas[0], cas[1]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	seq := b.Bundle().Sequence()
	v, err := a.newJWTKeyRecord()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, a.st, KindJWTKey, genKey(2), v); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second jwt key through the feed", func() bool { return len(b.Bundle().JWTKeyIDs()) == 2 })
	if b.Bundle().Sequence() <= seq {
		t.Errorf("sequence %d did not grow from %d", b.Bundle().Sequence(), seq)
	}
	tok, err := b.MintJWTSVID(mustID(t, "spiffe://example.org/w"), []string{"aud"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyJWTSVID(tok, b.Bundle(), "aud", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var r jwtKeyRecord
	json.Unmarshal(v, &r)
	if got.KeyID != r.Kid {
		t.Errorf("signed with %s, want the newest key %s", got.KeyID, r.Kid)
	}
	// A broken CA record written by someone else does not stop the node.
	if _, err := store.Put(ctx, a.st, KindCA, caKey, []byte("{")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the broken record reported", func() bool { return b.caPosAtLeast(ctx, t) })
	if _, err := b.IssueSVID(ctx, newCSR(t, newP256(t)), mustID(t, "spiffe://example.org/w"), 0, "test"); err != nil {
		t.Errorf("after a broken ca record: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// caPosAtLeast reports whether ca has followed the feed to the store's
// current revision.
func (ca *CA) caPosAtLeast(ctx context.Context, t *testing.T) bool {
	rev, err := ca.st.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.pos >= rev
}
