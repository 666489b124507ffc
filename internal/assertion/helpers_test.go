package assertion

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"github.com/ztgate/ztgate/internal/testkit"
	"path/filepath"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/pgtest"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testNow is the fake clock's start.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testAudience = "arn:zt:gateway::000000000000:route/demo"

// fakeClock is a clock tests move by hand.
type fakeClock = testkit.Clock

func newFakeClock() *fakeClock { return testkit.NewClock(testNow) }

// openSQLite opens (or reopens) the SQLite store at path, as a node
// would; it is closed when the test ends.
func openSQLite(tb testing.TB, path, node string) store.Store { return testkit.SQLite(tb, path, node) }

func newStore(tb testing.TB) store.Store {
	return openSQLite(tb, filepath.Join(tb.TempDir(), "x.db"), "test")
}

func newKEK(tb testing.TB) *secret.KEK { return testkit.KEK(tb) }

// env is one node's view: a store, the cluster's KEK and a clock.
type env struct {
	st    store.Store
	kek   *secret.KEK
	clock *fakeClock
}

func newEnv(tb testing.TB) env {
	return env{st: newStore(tb), kek: newKEK(tb), clock: newFakeClock()}
}

func (e env) config() Config {
	return Config{Store: e.st, KEK: e.kek, Clock: e.clock.Now}
}

func (e env) signer(tb testing.TB, mods ...func(*Config)) *Signer {
	tb.Helper()
	c := e.config()
	for _, m := range mods {
		m(&c)
	}
	s, err := New(context.Background(), c)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func testClaims() Claims {
	return Claims{
		Subject:     "arn:zt:iam::000000000000:user/alice",
		Audience:    testAudience,
		PrincipalID: "AIDAEXAMPLE0000000001",
		Account:     "000000000000",
		Name:        "Alice Example",
		Email:       "alice@example.com",
		Groups:      []string{"engineering", "on-call"},
		SessionID:   "sess-1",
		Method:      "session",
		Device:      map[string]any{"id": "dev-1", "managed": true, "compliant": true},
		AuthTime:    testNow.Add(-time.Hour),
	}
}

func mustSign(tb testing.TB, s *Signer, c Claims) string {
	tb.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// signRaw signs any header and payload with priv, as a compact JWS: for
// tokens Sign would never make but that carry a valid signature.
func signRaw(tb testing.TB, priv *ecdsa.PrivateKey, header, payload string) string {
	tb.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	digest := sha256.Sum256([]byte(input))
	der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	var sig [sigSize]byte
	if !derToRaw(der, &sig) {
		tb.Fatal("derToRaw refused a signature")
	}
	return input + "." + b64.EncodeToString(sig[:])
}

// currentKey is the private key s signs with now.
func currentKey(s *Signer) *signingKey { return s.current() }
