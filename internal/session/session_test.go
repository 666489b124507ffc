package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/sigv4"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// clock is a fake clock the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newKEK(t *testing.T) *secret.KEK {
	t.Helper()
	k, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var grant = Grant{
	Principal: "arn:zt:iam::000000000000:user/alice", PrincipalID: "AIDAALICEALICEALICE2",
	Account: "000000000000", SourceKeyID: "AKIAACTIVEACTIVEACTI", MFA: true, Duration: time.Hour,
}

func TestRoundTrip(t *testing.T) {
	clk := &clock{t0.Add(500 * time.Millisecond)}
	tok := New(Config{KEK: newKEK(t), Clock: clk.now})
	c, token, err := tok.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AccessKeyID) != 20 || !strings.HasPrefix(c.AccessKeyID, "ASIA") || len(c.Secret.Reveal()) != 40 ||
		!c.Issued.Equal(t0.Add(500*time.Millisecond)) || !c.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("claims: %+v", c)
	}
	if strings.ContainsAny(token, "+/=") || strings.Contains(token, c.Secret.Reveal()) || strings.Contains(token, "alice") {
		t.Fatalf("token is not opaque base64url: %s", token)
	}
	got, err := tok.Open(token)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != c.AccessKeyID || got.Secret.Reveal() != c.Secret.Reveal() || got.Principal != grant.Principal ||
		got.PrincipalID != grant.PrincipalID || got.Account != grant.Account || got.SourceKeyID != grant.SourceKeyID ||
		!got.MFA || !got.Issued.Equal(c.Issued) || !got.Expires.Equal(c.Expires) {
		t.Fatalf("opened %+v, issued %+v", got, c)
	}
	if s := fmt.Sprintf("%v %+v", got, got); strings.Contains(s, c.Secret.Reveal()) {
		t.Fatal("claims print their secret")
	}
	// Two credentials never share a key id or secret.
	c2, token2, _ := tok.Issue(grant)
	if c2.AccessKeyID == c.AccessKeyID || c2.Secret.Reveal() == c.Secret.Reveal() || token2 == token {
		t.Fatal("two issues gave the same credential")
	}
}

func TestExpiry(t *testing.T) {
	clk := &clock{t0}
	tok := New(Config{KEK: newKEK(t), Clock: clk.now})
	_, token, err := tok.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	clk.t = t0.Add(time.Hour - time.Second)
	if _, err := tok.Open(token); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	clk.t = t0.Add(time.Hour)
	if _, err := tok.Open(token); !errors.Is(err, sigv4.ErrExpiredToken) || errors.Is(err, ErrInvalid) {
		t.Fatalf("at expiry: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	clk := &clock{t0}
	kek := newKEK(t)
	tok := New(Config{KEK: kek, Clock: clk.now})
	_, token, err := tok.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(token)
	flip[len(flip)/2] ^= 'A' ^ 'B'
	if flip[len(flip)/2] == token[len(token)/2] {
		t.Fatal("no change")
	}
	otherAAD, err := secret.Seal(kek, []byte(`{"v":1,"k":"ASIAAAAAAAAAAAAAAAAA","s":"x","exp":9999999999}`), []byte("another use"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		tok   *Tokens
		token string
	}{
		"tampered":               {tok, string(flip)},
		"truncated":              {tok, token[:len(token)-4]},
		"empty":                  {tok, ""},
		"not base64":             {tok, "not a token!"},
		"padded":                 {tok, token + "=="},
		"too long":               {tok, strings.Repeat("A", MaxTokenLen+1)},
		"wrong KEK":              {New(Config{KEK: newKEK(t), Clock: clk.now}), token},
		"no KEK":                 {New(Config{Clock: clk.now}), token},
		"sealed for another use": {tok, base64.RawURLEncoding.EncodeToString(otherAAD)},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := tc.tok.Open(tc.token)
			if !errors.Is(err, ErrInvalid) || c.AccessKeyID != "" {
				t.Fatalf("%+v %v", c, err)
			}
		})
	}
}

func TestKeyStore(t *testing.T) {
	clk := &clock{t0}
	tok := New(Config{KEK: newKEK(t), Clock: clk.now})
	c, token, err := tok.Issue(grant)
	if err != nil {
		t.Fatal(err)
	}
	c2, _, _ := tok.Issue(grant)
	long := sigv4.Credentials{AccessKeyID: grant.SourceKeyID, Secret: sigv4.NewSecret("long-term")}
	ks := KeyStore{Keys: longTerm{long}, Tokens: tok}
	ctx := context.Background()

	got, err := ks.LookupToken(ctx, c.AccessKeyID, token)
	if err != nil || got.AccessKeyID != c.AccessKeyID || got.Secret.Reveal() != c.Secret.Reveal() || got.SessionToken != token {
		t.Fatalf("%+v %v", got, err)
	}
	if got, err := ks.Lookup(ctx, grant.SourceKeyID); err != nil || got.Secret.Reveal() != "long-term" {
		t.Fatalf("long-term key: %+v %v", got, err)
	}
	if got, err := ks.LookupToken(ctx, grant.SourceKeyID, token); err != nil || got.SessionToken != "" {
		t.Fatalf("long-term key with a token: %+v %v", got, err)
	}
	for name, err := range map[string]error{
		"without its token": func() error { _, err := ks.Lookup(ctx, c.AccessKeyID); return err }(),
		"another key's":     func() error { _, err := ks.LookupToken(ctx, c2.AccessKeyID, token); return err }(),
		"garbage":           func() error { _, err := ks.LookupToken(ctx, c.AccessKeyID, "garbage"); return err }(),
	} {
		if !errors.Is(err, sigv4.ErrUnknownKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	clk.t = c.Expires
	if _, err := ks.LookupToken(ctx, c.AccessKeyID, token); !errors.Is(err, sigv4.ErrExpiredToken) {
		t.Errorf("expired: %v", err)
	}
}

type longTerm struct{ c sigv4.Credentials }

func (l longTerm) Lookup(_ context.Context, id string) (sigv4.Credentials, error) {
	if id == l.c.AccessKeyID {
		return l.c, nil
	}
	return sigv4.Credentials{}, sigv4.ErrUnknownKey
}
