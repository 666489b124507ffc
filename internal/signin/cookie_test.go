package signin

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
)

func TestCookieTampering(t *testing.T) {
	e := newEnv(t)
	srv := e.server(t)
	sec := e.addUser(t, "alice", alicePassword)
	a := newAgent(t, srv)
	a.login("alice", alicePassword, e.code(t, sec, 0))
	good := a.cookie("ztgate")
	if good == "" {
		t.Fatal("no session cookie")
	}
	auth := func(value string) error {
		r := httptest.NewRequest(http.MethodGet, "/app", nil)
		r.AddCookie(&http.Cookie{Name: "ztgate", Value: value})
		_, err := e.svc.Authenticate(r)
		return err
	}
	if err := auth(good); err != nil {
		t.Fatalf("untouched cookie: %v", err)
	}
	// Every character changed, one at a time.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(good) {
		b := []byte(good)
		for _, c := range []byte(alphabet) {
			if c != good[i] {
				b[i] = c
				break
			}
		}
		if err := auth(string(b)); !errors.Is(err, ErrNoSession) {
			t.Fatalf("cookie changed at %d: %v, want ErrNoSession", i, err)
		}
	}
	id, exp, err := openCookie(e.kek, purposeSession, "ztgate", good)
	if err != nil {
		t.Fatal(err)
	}
	other := testKEK(t)
	forged, _ := sealCookie(other, purposeSession, "ztgate", id, exp)
	renamed, _ := sealCookie(e.kek, purposeSession, "other", id, exp)
	flowed, _ := sealCookie(e.kek, purposeFlow, "ztgate", id, exp)
	longer, _ := sealCookie(e.kek, purposeSession, "ztgate", id, exp.Add(365*24*time.Hour))
	for name, v := range map[string]string{
		"empty":                  "",
		"truncated":              good[:len(good)-4],
		"extended":               good + "AA",
		"padded":                 good + "=",
		"not base64":             "!!!!",
		"the id itself":          id,
		"sealed under other KEK": forged,
		"sealed for other name":  renamed,
		"a flow cookie":          flowed,
	} {
		if err := auth(v); !errors.Is(err, ErrNoSession) {
			t.Errorf("%s: %v, want ErrNoSession", name, err)
		}
	}
	// A cookie sealed with a later expiry (which needs the KEK) still
	// meets the session's own limit in the store.
	e.clock.Add(DefaultMaxLifetime + time.Second)
	if err := auth(longer); !errors.Is(err, ErrExpired) {
		t.Fatalf("past the session's lifetime: %v", err)
	}
	if err := auth(good); !errors.Is(err, ErrExpired) {
		t.Fatalf("past the cookie's expiry: %v", err)
	}
}

func TestCookieRoundTrip(t *testing.T) {
	k := testKEK(t)
	id := newID()
	exp := time.Unix(1900000000, 0).UTC()
	v, err := sealCookie(k, purposeSession, "__Host-ztgate", id, exp)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 200 {
		t.Errorf("cookie is %d bytes", len(v))
	}
	gotID, gotExp, err := openCookie(k, purposeSession, "__Host-ztgate", v)
	if err != nil || gotID != id || !gotExp.Equal(exp) {
		t.Fatalf("openCookie = %q %v %v", gotID, gotExp, err)
	}
	if !validID(id) || validID(id[:31]) || validID(id+"0") || validID("ABCDEF0123456789abcdef0123456789") {
		t.Fatal("validID")
	}
}

// FuzzOpenCookie: decoding a cookie never panics, and no value opens but
// one sealed under the key: here, only cookies for fuzzID. The key is
// fixed so that every fuzzing worker can open the seeds.
func FuzzOpenCookie(f *testing.F) {
	const fuzzID = "0123456789abcdef0123456789abcdef"
	k, err := secret.ParseKEK([]byte("ztgate-kek-v1:" + base64.StdEncoding.EncodeToString([]byte("signin fuzz key, not a secret..."))))
	if err != nil {
		f.Fatal(err)
	}
	good, err := sealCookie(k, purposeSession, "ztgate", fuzzID, time.Unix(1900000000, 0))
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := openCookie(k, purposeSession, "ztgate", good); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("AAAA")
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Fuzz(func(t *testing.T, v string) {
		id, _, err := openCookie(k, purposeSession, "ztgate", v)
		if err != nil {
			if !errors.Is(err, errBadCookie) {
				t.Fatalf("error %v is not errBadCookie", err)
			}
			return
		}
		if id != fuzzID {
			t.Fatalf("%q opened as %q", v, id)
		}
		// A cookie has one encoding: none other opens.
		raw, _ := b64.DecodeString(v)
		if b64.EncodeToString(raw) != v {
			t.Fatalf("%q opened but is not canonical", v)
		}
	})
}
