package signin

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAuthenticate is the gateway's hot path: a cookie whose session
// is in the cache (Run follows the feed).
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b)
	e.run(b)
	srv := e.server(b)
	sec := e.addUser(b, "alice", alicePassword)
	a := newAgent(b, srv)
	a.login("alice", alicePassword, e.code(b, sec, 0))
	r := httptest.NewRequest(http.MethodGet, "/app", nil)
	r.AddCookie(&http.Cookie{Name: "ztgate", Value: a.cookie("ztgate")})
	if _, err := e.svc.Authenticate(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.svc.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}
