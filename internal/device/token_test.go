package device

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestTokenNeverPrinted(t *testing.T) {
	n := newEnv(t)
	tok, _, err := n.reg.CreateToken(context.Background(), TokenRequest{Name: "x", CreatedBy: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	secret := tok.Reveal()
	if !wellFormedToken(secret) || len(secret) != tokenLen {
		t.Fatalf("token %d bytes, well formed %v", len(secret), wellFormedToken(secret))
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("t", "token", tok)
	j, _ := json.Marshal(struct{ T Token }{tok})
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s %q %x", tok, tok, tok, tok, tok, tok), logs.String(), string(j)} {
		if strings.Contains(s, secret) || strings.Contains(s, secret[len(tokenPrefix):]) || !strings.Contains(s, "REDACTED") {
			t.Errorf("token printed as %q", s)
		}
	}
}

func TestTokenRequests(t *testing.T) {
	n := newEnv(t)
	for name, req := range map[string]TokenRequest{
		"no name":         {CreatedBy: "a"},
		"control in name": {Name: "a\nb", CreatedBy: "a"},
		"long name":       {Name: strings.Repeat("n", maxNameLen+1), CreatedBy: "a"},
		"no creator":      {Name: "x"},
		"role owner":      {Name: "x", Owner: "arn:zt:iam::000000000000:role/r", CreatedBy: "a"},
		"aws owner":       {Name: "x", Owner: "arn:aws:iam::000000000000:user/alice", CreatedBy: "a"},
		"not an arn":      {Name: "x", Owner: "alice", CreatedBy: "a"},
		"wildcard group":  {Name: "x", Groups: []string{"lap*"}, CreatedBy: "a"},
		"variable group":  {Name: "x", Groups: []string{"${aws:username}"}, CreatedBy: "a"},
		"empty group":     {Name: "x", Groups: []string{""}, CreatedBy: "a"},
		"too many groups": {Name: "x", Groups: strings.Split(strings.Repeat("g,", maxGroups+1), ","), CreatedBy: "a"},
		"long ttl":        {Name: "x", TTL: MaxTokenTTL + time.Second, CreatedBy: "a"},
		"negative ttl":    {Name: "x", TTL: -time.Second, CreatedBy: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := n.reg.CreateToken(context.Background(), req)
			checkErr(t, err, ErrInvalid)
		})
	}
	if recs := records(t, n.st, KindToken); len(recs) != 0 {
		t.Fatalf("%d tokens recorded by refused requests", len(recs))
	}
	_, info, err := n.reg.CreateToken(context.Background(), TokenRequest{Name: "x", Groups: []string{"b", "a", "b"}, TTL: time.Hour, CreatedBy: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(info.Groups, ","); got != "a,b" {
		t.Errorf("groups %q, want sorted without duplicates", got)
	}
	if !info.ExpiresAt.Equal(testNow.Add(time.Hour)) || info.Status != "pending" {
		t.Errorf("token %+v", info)
	}
}

func TestTokensListRevokePrune(t *testing.T) {
	n := newEnv(t)
	ctx := context.Background()
	_, pending := n.token(t)
	n.clock.Advance(time.Second)
	usedTok, used := n.token(t)
	if _, err := n.reg.Enroll(ctx, EnrollRequest{Token: usedTok, CSR: newCSR(t, newP256(t))}); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Second)
	_, short := n.token(t, func(r *TokenRequest) { r.TTL = time.Minute })
	n.clock.Advance(2 * time.Minute)

	ts, err := n.reg.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ti := range ts {
		got = append(got, ti.ID+"="+ti.Status)
	}
	if want := []string{pending.ID + "=pending", used.ID + "=used", short.ID + "=expired"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("tokens %v, want %v", got, want)
	}

	for name, id := range map[string]string{"unknown": "tok-0000000000000000", "short": "tok-00", "upper": strings.ToUpper(pending.ID), "not hex": "tok-zzzzzzzzzzzzzzzz"} {
		t.Run(name, func(t *testing.T) {
			_, err := n.reg.RevokeToken(ctx, id)
			checkErr(t, err, ErrNotFound)
		})
	}
	if info, err := n.reg.RevokeToken(ctx, pending.ID); err != nil || info.ID != pending.ID {
		t.Fatalf("RevokeToken = %+v, %v", info, err)
	}
	// Used and expired tokens go; the device keeps the id of its token.
	gone, err := n.reg.PruneTokens(ctx, n.clock.Now())
	if err != nil || gone != 2 {
		t.Fatalf("PruneTokens = %d, %v", gone, err)
	}
	if recs := records(t, n.st, KindToken); len(recs) != 0 {
		t.Fatalf("%d tokens left", len(recs))
	}
	ds, _ := n.reg.Devices(ctx)
	if len(ds) != 1 || ds[0].Enrollment != used.ID {
		t.Errorf("devices %+v", ds)
	}
}
