package pki

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

// Defaults and limits of Config.
const (
	// DefaultTTL is an X.509-SVID's lifetime when the request names none.
	DefaultTTL = time.Hour
	// DefaultMaxTTL caps any certificate's lifetime unless Config.MaxTTL
	// says otherwise.
	DefaultMaxTTL = 24 * time.Hour
	// DefaultJWTTTL is a JWT-SVID's lifetime when the request names none.
	DefaultJWTTTL = 5 * time.Minute
	// MaxJWTTTL caps a JWT-SVID's lifetime: it is a bearer token.
	MaxJWTTTL = time.Hour
	// DefaultRootTTL and DefaultIntermediateTTL are the lifetimes of a
	// generated CA's certificates.
	DefaultRootTTL         = 10 * 365 * 24 * time.Hour
	DefaultIntermediateTTL = 5 * 365 * 24 * time.Hour
	// DefaultRefreshHint is the bundle's spiffe_refresh_hint.
	DefaultRefreshHint = 5 * time.Minute
	// Backdate is how far before its issue a certificate's notBefore lies,
	// so that a peer whose clock is a little behind accepts it.
	Backdate = time.Minute
)

// Config is what Open needs. Store, KEK and TrustDomain are required.
type Config struct {
	Store store.Store // the CA's records: kinds pki-*
	KEK   *secret.KEK // seals the CA's private keys
	// TrustDomain is the SPIFFE trust domain, such as "example.org".
	TrustDomain string
	Clock       func() time.Time // time.Now when nil
	Log         *slog.Logger     // CA creation, unreadable records, Run's failures; discarded when nil
	// Import, when set, is the CA used if the store holds none yet; when
	// the store holds another CA, Open fails rather than switch.
	Import *Import

	DefaultTTL      time.Duration // X.509-SVID lifetime by default: DefaultTTL when zero
	MaxTTL          time.Duration // cap on every certificate's lifetime: DefaultMaxTTL when zero
	JWTTTL          time.Duration // JWT-SVID lifetime by default: DefaultJWTTTL when zero, at most MaxJWTTTL
	RootTTL         time.Duration // generated root's lifetime: DefaultRootTTL when zero
	IntermediateTTL time.Duration // intermediate's lifetime: DefaultIntermediateTTL when zero
	RefreshHint     time.Duration // bundle refresh hint: DefaultRefreshHint when zero
}

// CA is ztgate's certificate authority: it issues X.509-SVIDs and other
// certificates from its intermediate, mints JWT-SVIDs, publishes the trust
// bundle and keeps the revocations. It is safe for concurrent use.
type CA struct {
	st    store.Store
	kek   *secret.KEK
	td    TrustDomain
	clock func() time.Time
	log   *slog.Logger
	imp   *Import

	ttl, maxTTL, jwtTTL time.Duration
	rootTTL, interTTL   time.Duration
	refresh             time.Duration

	mat atomic.Pointer[material] // replaced whole by loadMaterial
	rev revocations

	mu  sync.Mutex // serializes loads and the feed position
	pos int64      // the store revision everything in memory reflects
}

var (
	_ fmt.Formatter  = (*CA)(nil)
	_ slog.LogValuer = (*CA)(nil)
)

// material is what the CA signs with and publishes, immutable once built.
type material struct {
	chain   []*x509.Certificate // signing certificate first, root last
	issuers []*x509.Certificate // chain without the root: what leaves carry
	key     *PrivateKey         // chain[0]'s
	jwt     []*jwtKey           // by generation, ascending; the last signs
	bundle  *Bundle
	json    []byte // the bundle in SPIFFE format
}

func (m *material) signer() *x509.Certificate { return m.chain[0] }

// Open returns the CA kept in c.Store, creating it when there is none:
// from c.Import when set, else a new ECDSA P-256 root and intermediate.
// Nodes that open one store at once end up with one CA: each creates its
// candidate inside a transaction, one wins, and the others load the
// winner's.
func Open(ctx context.Context, c Config) (*CA, error) {
	if why := checkTrustDomain(c.TrustDomain); why != "" {
		return nil, fmt.Errorf("%w: trust domain %s: %s", ErrConfig, quote(c.TrustDomain), why)
	}
	td := TrustDomain{name: c.TrustDomain}
	ca := &CA{
		st: c.Store, kek: c.KEK, td: td, clock: c.Clock, log: c.Log, imp: c.Import,
		ttl:      or(c.DefaultTTL, DefaultTTL),
		maxTTL:   or(c.MaxTTL, DefaultMaxTTL),
		jwtTTL:   or(c.JWTTTL, DefaultJWTTTL),
		rootTTL:  or(c.RootTTL, DefaultRootTTL),
		interTTL: or(c.IntermediateTTL, DefaultIntermediateTTL),
		refresh:  or(c.RefreshHint, DefaultRefreshHint),
	}
	switch {
	case c.Store == nil:
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	case c.KEK.ID() == "":
		return nil, fmt.Errorf("%w: no key-encryption key", ErrConfig)
	case c.DefaultTTL < 0 || c.MaxTTL < 0 || c.JWTTTL < 0 || c.RootTTL < 0 || c.IntermediateTTL < 0 || c.RefreshHint < 0:
		return nil, fmt.Errorf("%w: negative duration", ErrConfig)
	case ca.ttl > ca.maxTTL:
		return nil, fmt.Errorf("%w: default ttl %s above the maximum %s", ErrConfig, ca.ttl, ca.maxTTL)
	case ca.jwtTTL > MaxJWTTTL:
		return nil, fmt.Errorf("%w: jwt-svid ttl %s above %s", ErrConfig, ca.jwtTTL, MaxJWTTTL)
	case ca.maxTTL >= ca.interTTL || ca.interTTL > ca.rootTTL:
		return nil, fmt.Errorf("%w: lifetimes must grow from max ttl (%s) to intermediate (%s) to root (%s)", ErrConfig, ca.maxTTL, ca.interTTL, ca.rootTTL)
	}
	if ca.clock == nil {
		ca.clock = time.Now
	}
	if ca.log == nil {
		ca.log = slog.New(slog.DiscardHandler)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if err := ca.loadAll(ctx, true); err != nil {
		return nil, err
	}
	return ca, nil
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TrustDomain returns the CA's trust domain.
func (ca *CA) TrustDomain() TrustDomain { return ca.td }

// Chain returns the CA's certificates, the signing certificate first and
// the root last.
func (ca *CA) Chain() []*x509.Certificate {
	return append([]*x509.Certificate(nil), ca.mat.Load().chain...)
}

// Format prints the CA's trust domain and signing certificate serial,
// whatever the verb: a CA holds private keys.
func (ca *CA) Format(f fmt.State, _ rune) {
	io.WriteString(f, "[pki ca "+ca.td.String()+" "+serialKey(ca.mat.Load().signer().SerialNumber)+"]")
}

// LogValue makes log/slog print the trust domain and signing serial only.
func (ca *CA) LogValue() slog.Value {
	return slog.GroupValue(slog.String("trust_domain", ca.td.String()),
		slog.String("signing_serial", serialKey(ca.mat.Load().signer().SerialNumber)))
}

// loadAll reads the CA, its JWT keys and the revocations, creating what
// is missing when create is set. The caller holds ca.mu.
func (ca *CA) loadAll(ctx context.Context, create bool) error {
	// The revision is read first: a change made while loading is seen
	// again by Run, which re-reads the record, so none is missed.
	rev, err := ca.st.Revision(ctx)
	if err != nil {
		return fmt.Errorf("pki: load: %w", err)
	}
	m, err := ca.loadMaterial(ctx, create)
	if err != nil {
		return err
	}
	if err := ca.rev.load(ctx, ca.st, rev, ca.log); err != nil {
		return err
	}
	ca.mat.Store(m)
	ca.pos = rev
	ca.refreshCRL()
	return nil
}

// loadMaterial reads the CA record and the JWT keys, creating them when
// create is set and they are missing.
func (ca *CA) loadMaterial(ctx context.Context, create bool) (*material, error) {
	caRec, err := ca.ensure(ctx, create, KindCA, caKey, ca.newCARecord)
	if err != nil {
		return nil, err
	}
	a, err := ca.openCA(caRec)
	if err != nil {
		return nil, err
	}
	jwtRecs, err := ca.st.List(ctx, KindJWTKey, "")
	if err != nil {
		return nil, fmt.Errorf("pki: load jwt-svid keys: %w", err)
	}
	if len(jwtRecs) == 0 {
		rec, err := ca.ensure(ctx, create, KindJWTKey, genKey(1), ca.newJWTKeyRecord)
		if err != nil {
			return nil, err
		}
		jwtRecs = []store.Record{rec}
	}
	keys, err := ca.openJWTKeys(jwtRecs)
	if err != nil {
		return nil, err
	}
	seq := caRec.Revision
	for _, r := range jwtRecs {
		seq = max(seq, r.Revision)
	}
	m := &material{chain: a.chain, issuers: a.chain[:len(a.chain)-1], key: a.key, jwt: keys}
	m.bundle = newBundle(ca.td, a.chain[len(a.chain)-1:], keys, uint64(seq), ca.refresh)
	if m.json, err = m.bundle.Marshal(); err != nil {
		return nil, fmt.Errorf("pki: bundle: %w", err)
	}
	return m, nil
}

// ensure reads the record kind/key, creating it with mk when it is
// missing and create is set. Two nodes that both find it missing both try
// to create it in a transaction; the one that loses gets store.ErrExists
// and reads the winner's.
func (ca *CA) ensure(ctx context.Context, create bool, kind, key string, mk func() ([]byte, error)) (store.Record, error) {
	rec, err := ca.st.Get(ctx, kind, key)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		if err != nil {
			return rec, fmt.Errorf("pki: load %s: %w", kind, err)
		}
		return rec, nil
	}
	if !create {
		return rec, fmt.Errorf("%w: the store holds no %s record", ErrCA, kind)
	}
	v, err := mk()
	if err != nil {
		return rec, err
	}
	_, err = ca.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Create(ctx, kind, key, v)
		return err
	})
	switch {
	case err == nil:
		ca.log.Info("pki: record created", "kind", kind, "key", key, "trust_domain", ca.td.String())
	case !errors.Is(err, store.ErrExists):
		return rec, fmt.Errorf("pki: create %s: %w", kind, err)
	}
	rec, err = ca.st.Get(ctx, kind, key)
	if err != nil {
		return rec, fmt.Errorf("pki: load %s: %w", kind, err)
	}
	return rec, nil
}

// newCARecord makes the CA: imported, or generated.
func (ca *CA) newCARecord() ([]byte, error) {
	now := ca.clock()
	var (
		a   *authority
		err error
	)
	if ca.imp != nil {
		a, err = importAuthority(ca.imp, ca.td, now, ca.interTTL)
	} else {
		a, err = generate(ca.td, now, ca.rootTTL, ca.interTTL)
	}
	if err != nil {
		return nil, err
	}
	r := caRecord{TrustDomain: ca.td.String(), Imported: a.imported, Created: now.UTC()}
	for _, c := range a.chain {
		r.Chain = append(r.Chain, c.Raw)
	}
	if r.Key, err = sealKey(ca.kek, a.key, caKeyAAD("signing", a.chain[0].Raw)); err != nil {
		return nil, err
	}
	if a.rootKey != nil {
		if r.RootKey, err = sealKey(ca.kek, a.rootKey, caKeyAAD("root", a.chain[len(a.chain)-1].Raw)); err != nil {
			return nil, err
		}
	}
	return json.Marshal(r)
}

// openCA reads and checks a stored CA. Errors wrap ErrCA, or ErrConfig
// when the store's CA is not the one configured.
func (ca *CA) openCA(rec store.Record) (*authority, error) {
	var r caRecord
	if err := decodeRecord(rec, &r); err != nil {
		return nil, err
	}
	if r.TrustDomain != ca.td.String() {
		return nil, fmt.Errorf("%w: the store's ca is for trust domain %s, the configuration names %s", ErrConfig, quote(r.TrustDomain), quote(ca.td.String()))
	}
	if len(r.Chain) == 0 || len(r.Key) == 0 {
		return nil, fmt.Errorf("%w: incomplete ca record", ErrCA)
	}
	a := &authority{imported: r.Imported}
	for i, der := range r.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: ca certificate %d: %v", ErrCA, i, err)
		}
		a.chain = append(a.chain, c)
	}
	var err error
	if a.key, err = openKey(ca.kek, r.Key, caKeyAAD("signing", r.Chain[0])); err != nil {
		return nil, fmt.Errorf("%w: signing key: %w", ErrCA, err)
	}
	if len(r.RootKey) > 0 {
		if a.rootKey, err = openKey(ca.kek, r.RootKey, caKeyAAD("root", r.Chain[len(r.Chain)-1])); err != nil {
			return nil, fmt.Errorf("%w: root key: %w", ErrCA, err)
		}
	}
	if err := checkAuthority(a, ca.td, ca.clock()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCA, err)
	}
	if err := ca.matchesImport(a); err != nil {
		return nil, err
	}
	return a, nil
}

// matchesImport refuses a stored CA other than the configured import: a
// node must not silently issue from a CA its operator did not name.
func (ca *CA) matchesImport(a *authority) error {
	if ca.imp == nil {
		return nil
	}
	certs, err := parseCertsPEM(ca.imp.CertPEM)
	if err != nil || len(certs) == 0 {
		return fmt.Errorf("%w: import: certificates: %v", ErrConfig, err)
	}
	stored := a.chain[0]
	if len(certs) == 1 && selfSigned(certs[0]) {
		stored = a.chain[len(a.chain)-1] // an imported root: ztgate made the intermediate
	}
	if !stored.Equal(certs[0]) {
		return fmt.Errorf("%w: the store holds another ca (%q, serial %s) than the one configured for import (%q)", ErrConfig, stored.Subject.String(), serialKey(stored.SerialNumber), certs[0].Subject.String())
	}
	return nil
}

// Reload re-reads the CA, its JWT keys and the revocations from the
// store. Run does so on every change to them.
func (ca *CA) Reload(ctx context.Context) error {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.loadAll(ctx, false)
}

// Run follows the store's change feed until ctx ends, keeping the
// revocations, the CRL, the CA and the JWT keys current with what any node
// writes. When the feed has lost changes it reloads in full. Run may be
// called again after an error: it resumes where it stopped.
func (ca *CA) Run(ctx context.Context) error {
	from := func() int64 {
		ca.mu.Lock()
		defer ca.mu.Unlock()
		return ca.pos
	}
	reload := func(ctx context.Context) error {
		ca.mu.Lock()
		defer ca.mu.Unlock()
		return ca.loadAll(ctx, false)
	}
	// A change that fails to apply leaves the position unchanged: it is
	// applied again.
	return store.Follow(ctx, ca.st.Watch, "pki", from, reload, ca.applyChange)
}

func (ca *CA) applyChange(ctx context.Context, c store.Change) error {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	switch c.Kind {
	case KindRevoked:
		if err := ca.rev.apply(ctx, ca.st, c.Key, c.Revision, ca.log); err != nil {
			return err
		}
		ca.refreshCRL()
	case KindCA, KindJWTKey:
		m, err := ca.loadMaterial(ctx, false)
		if err != nil {
			// The CA in memory stays in use: a record another node broke
			// must not stop this one from issuing with a CA it checked.
			ca.log.Error("pki: cannot reload the ca; keeping the one loaded", "kind", c.Kind, "key", c.Key, "revision", c.Revision, "err", err)
		} else {
			ca.mat.Store(m)
		}
	}
	if c.Revision > ca.pos {
		ca.pos = c.Revision
	}
	return nil
}
