// Package demo is the small application "ztgate serve --dev" puts behind
// its gateway, so that a newcomer sees the whole path at once: it verifies
// the signed identity assertion the gateway adds to every request and
// shows who is calling, with which method, and which headers arrived.
// It trusts nothing else: a request without a valid assertion is refused,
// as every upstream behind ztgate should refuse it.
package demo

import (
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/assertion"
)

// Header is where the gateway puts the assertion.
const Header = "X-Ztgate-Assertion"

// Config is what the demo app needs.
type Config struct {
	// JWKS returns the gateway's current verification keys.
	JWKS func() []byte
	// Audience is the route's ARN, which assertions for it name.
	Audience string
	Clock    func() time.Time
}

// New returns the demo app.
func New(c Config) http.Handler {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/whoami", func(w http.ResponseWriter, r *http.Request) {
		cl, ok := verify(w, r, c)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(cl)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		cl, ok := verify(w, r, c)
		if !ok {
			return
		}
		var names []string
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		page.Execute(w, struct {
			Claims  *assertion.Claims
			Path    string
			Method  string
			Headers []string
		}{cl, r.URL.Path, r.Method, names})
	})
	return mux
}

func verify(w http.ResponseWriter, r *http.Request, c Config) (*assertion.Claims, bool) {
	tok := r.Header.Get(Header)
	if tok == "" {
		http.Error(w, "no identity assertion: this app is reachable only through the ztgate gateway", http.StatusUnauthorized)
		return nil, false
	}
	cl, err := assertion.Verify(tok, c.JWKS(), c.Audience, c.Clock())
	if err != nil {
		http.Error(w, "the identity assertion does not verify", http.StatusUnauthorized)
		return nil, false
	}
	return cl, true
}

var page = template.Must(template.New("demo").Funcs(template.FuncMap{"join": strings.Join}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>ztgate demo app</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em}code{background:#f3f3f3;padding:0 .2em}th{text-align:left;padding-right:1em}</style></head>
<body>
<h1>Hello, {{if .Claims.Name}}{{.Claims.Name}}{{else}}{{.Claims.Subject}}{{end}}</h1>
<p>This page is the demo app behind ztgate's gateway. The gateway authenticated you,
decided <code>{{.Method}} {{.Path}}</code> against your policies, and told this app who you are
in a signed assertion, which the app verified with the gateway's public keys.</p>
<table>
<tr><th>principal</th><td><code>{{.Claims.Subject}}</code></td></tr>
<tr><th>signed in with</th><td>{{.Claims.Method}}</td></tr>
{{if .Claims.Groups}}<tr><th>groups</th><td>{{join .Claims.Groups ", "}}</td></tr>{{end}}
{{if .Claims.SessionID}}<tr><th>session</th><td><code>{{.Claims.SessionID}}</code></td></tr>{{end}}
<tr><th>route</th><td><code>{{.Claims.Audience}}</code></td></tr>
</table>
<p>Try <a href="/admin">/admin</a>: the demo policy denies it. <a href="/api/whoami">/api/whoami</a> answers in JSON.</p>
<details><summary>headers this app received</summary><p>{{join .Headers ", "}}</p></details>
<p><a href="/.ztgate/logout">Sign out</a></p>
</body></html>
`))
