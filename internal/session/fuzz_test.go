package session

import (
	"errors"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/sigv4"
)

// FuzzOpen feeds Open untrusted token text: it must never panic, and
// whatever it accepts must be a well-formed, unexpired credential.
func FuzzOpen(f *testing.F) {
	kek, err := secret.ParseKEK([]byte("ztgate-kek-v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"))
	if err != nil {
		f.Fatal(err)
	}
	clk := &clock{t0}
	tok := New(Config{KEK: kek, Clock: clk.now})
	_, token, err := tok.Issue(grant)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(token)
	f.Add(token[:len(token)/2])
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tok.Open(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, sigv4.ErrExpiredToken) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if len(c.AccessKeyID) < len(KeyPrefix) || c.Secret.IsZero() || !t0.Before(c.Expires) || c.Expires.Sub(time.Time{}) <= 0 {
			t.Fatalf("accepted %+v", c)
		}
	})
}
