package agent

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
)

// A token works once; replayed, expired, unknown or malformed, it gets
// one and the same refusal, audited, and nothing is issued.
func TestJoinTokenRefusals(t *testing.T) {
	e := newEnv(t)
	used := e.token("web1")
	e.startAgent(used)
	expired := e.token("web2")
	e.clock.Advance(DefaultTokenTTL + time.Second)
	c := e.rawClient(nil)
	csr := csrPEM(t, newP256(t), nil)
	var msgs []string
	for name, tok := range map[string]string{
		"replayed":  used,
		"expired":   expired,
		"unknown":   tokenPrefix + strings.Repeat("A", tokenLen-len(tokenPrefix)),
		"malformed": "let me in",
		"empty":     "",
	} {
		before := e.certCount()
		st, body := c.call(http.MethodPost, EndpointJoin, JoinRequest{Token: tok, CSRPEM: csr})
		ae := wantRefusal(t, st, body, http.StatusUnauthorized, CodeJoinTokenRefused)
		msgs = append(msgs, ae.Message)
		if e.certCount() != before {
			t.Errorf("%s: a certificate was issued", name)
		}
	}
	for _, m := range msgs {
		if m != "join token is unknown, expired or already used" {
			t.Errorf("message %q", m)
		}
	}
	if n := len(e.records(audit.CategoryAuthFail, "JoinAgent")); n != 5 {
		t.Errorf("%d join refusals audited, want 5", n)
	}
}

// Many joins with one token at once: one agent, one live certificate.
func TestJoinTokenRace(t *testing.T) {
	e := newEnv(t)
	tok := e.token("web1")
	c := e.rawClient(nil)
	const n = 8
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		csr := csrPEM(t, newP256(t), nil)
		wg.Go(func() {
			codes[i], _ = c.call(http.MethodPost, EndpointJoin, JoinRequest{Token: tok, CSRPEM: csr})
		})
	}
	wg.Wait()
	ok := 0
	for _, code := range codes {
		switch code {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized, http.StatusConflict:
		default:
			t.Errorf("status %d", code)
		}
	}
	if ok != 1 {
		t.Fatalf("%d joins succeeded with one token (%v)", ok, codes)
	}
	// Every certificate issued to a loser is revoked.
	live := 0
	for _, rec := range mustList(t, e, "pki-cert") {
		if strings.Contains(string(rec.Value), "/ztgate/agent/web1") && !strings.Contains(e.revokedKeys(), rec.Key) {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d unrevoked agent certificates, want 1", live)
	}
}

func TestTokenCreate(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "Web1"}, "only lowercase"},
		{[]string{"--name", strings.Repeat("a", 64)}, "longer than 63"},
		{[]string{"--name", "a/b"}, "only lowercase"},
		{[]string{"--name", "..", "--ttl", "1h"}, "not allowed"},
		{[]string{"--name", "ok", "--ttl", "25h"}, "from 1s to 24h"},
		{[]string{"--name", "ok", "--ttl", "-1s"}, "not positive"},
	} {
		_, err := e.admin(append([]string{"token", "create"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	refused := e.records(audit.CategoryAdmin, "CreateJoinToken")
	if len(refused) != 6 || refused[0].ErrorCode == "" {
		t.Fatalf("refused token creations audited: %+v", refused)
	}
	// Expired tokens are cleaned up when a new one is made.
	e.token("a1")
	e.clock.Advance(2 * time.Hour)
	e.token("a2")
	if recs := mustList(t, e, KindJoinToken); len(recs) != 1 {
		t.Fatalf("%d token records, want 1", len(recs))
	}
	// Only the hash is stored.
	tok := e.token("a3")
	for _, rec := range mustList(t, e, KindJoinToken) {
		if strings.Contains(string(rec.Value), tok) || strings.Contains(rec.Key, tok) {
			t.Fatal("the store holds the token")
		}
	}
}

func TestJoinTokenRedacted(t *testing.T) {
	tok, err := newToken(strings.NewReader(strings.Repeat("x", 64)))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("x", "token", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %s %q %#v", tok, tok, tok, tok), b.String()} {
		if strings.Contains(s, tok.Reveal()) {
			t.Errorf("token printed: %s", s)
		}
	}
	if !wellFormed(tok.Reveal()) {
		t.Error("a new token is not well-formed")
	}
}
