package signin

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"join": func(s []string) string { return strings.Join(s, ", ") },
}).ParseFS(assets, "assets/*.html"))

// The Content-Security-Policy of every page: nothing but this host's own
// script and style sheet, and data: images (the TOTP QR code).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxBody bounds every request body the handler reads.
const maxBody = 64 << 10

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	p := PathPrefix
	mux.HandleFunc("GET "+p+"{$}", s.showAccount)
	mux.HandleFunc("GET "+p+"login", s.loginPage)
	mux.HandleFunc("POST "+p+"login", s.passwordLogin)
	mux.HandleFunc("POST "+p+"login/totp", s.totpLogin)
	mux.HandleFunc("GET "+p+"logout", s.logoutPage)
	mux.HandleFunc("POST "+p+"logout", s.logout)
	mux.HandleFunc("GET "+p+"totp/enroll", s.enrollPage)
	mux.HandleFunc("POST "+p+"totp/enroll", s.enrollConfirm)
	mux.HandleFunc("POST "+p+"passkey/login/begin", s.passkeyLoginBegin)
	mux.HandleFunc("POST "+p+"passkey/login/finish", s.passkeyLoginFinish)
	mux.HandleFunc("POST "+p+"passkey/register/begin", s.passkeyRegisterBegin)
	mux.HandleFunc("POST "+p+"passkey/register/finish", s.passkeyRegisterFinish)
	mux.HandleFunc("GET "+p+"oidc/login/{idp}", s.oidcLogin)
	mux.HandleFunc("GET "+p+"oidc/callback/{idp}", s.oidcCallback)
	mux.HandleFunc("POST "+p+"oidc/backchannel/{idp}", s.backchannelLogout)
	mux.HandleFunc("GET "+p+"assets/{file}", s.asset)
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		s.message(w, r, http.StatusNotFound, "Not found", "There is no such page.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: with no-referrer a browser sends
		// "Origin: null" on its own form posts, which sameOrigin refuses.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		mux.ServeHTTP(w, r)
	})
}

func (s *Service) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	var ctype string
	switch name {
	case "style.css":
		ctype = "text/css; charset=utf-8"
	case "signin.js":
		ctype = "text/javascript; charset=utf-8"
	default:
		http.NotFound(w, r)
		return
	}
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
}

// render writes a page; a template that fails writes a plain 500.
func (s *Service) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("signin: rendering a page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type messagePage struct {
	Title, Text    string
	Link, LinkText string
}

func (s *Service) message(w http.ResponseWriter, _ *http.Request, status int, title, text string) {
	s.render(w, status, "message", messagePage{Title: title, Text: text, Link: PathPrefix + "login", LinkText: "Sign in"})
}

func (s *Service) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error("signin: "+what, "err", err, "path", r.URL.Path)
	s.message(w, r, http.StatusInternalServerError, "Something went wrong", "The request could not be completed. Try again later.")
}

// flowError answers a sign-in step that could not start.
func (s *Service) flowError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, errTooManyFlows) {
		s.message(w, r, http.StatusTooManyRequests, "Slow down", msgThrottled)
		return
	}
	s.internalError(w, r, what, err)
}

// writeJSON answers a script.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// sameOrigin refuses requests that a browser sent from another origin.
// Browsers mark every request with Sec-Fetch-Site or Origin; a request
// with neither is not from a browser and is left to the CSRF token.
func (s *Service) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) && u.Scheme == s.scheme(r)
}

// scriptRequest checks a request from this package's script: same origin
// and a JSON body, which another origin cannot send without a CORS
// preflight that this handler never grants.
func (s *Service) scriptRequest(w http.ResponseWriter, r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if !s.sameOrigin(r) || !strings.HasPrefix(ct, "application/json") {
		jsonError(w, http.StatusForbidden, "cross-origin request refused")
		return false
	}
	return true
}

// loginCSRF returns the browser's sign-in form token, setting its cookie
// when there is none: the double-submit pattern, safe here because a
// __Host- cookie cannot be planted from another host.
func (s *Service) loginCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := newSecret()
	s.setCookie(w, s.csrfCookie, v, time.Time{})
	return v
}

// checkLoginCSRF checks a sign-in form's token against its cookie.
func (s *Service) checkLoginCSRF(r *http.Request) bool {
	c, err := r.Cookie(s.csrfCookie)
	tok := r.PostFormValue("csrf")
	return err == nil && s.sameOrigin(r) && tok != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(tok)) == 1
}

type idpLink struct{ Name, URL string }

type loginPage struct {
	Title  string
	Error  string
	CSRF   string
	Return string
	User   string
	Signed *Session
	IdPs   []idpLink
}

func (s *Service) loginData(w http.ResponseWriter, r *http.Request, rd string) loginPage {
	d := loginPage{Title: "Sign in", CSRF: s.loginCSRF(w, r), Return: rd}
	if sess, err := s.Authenticate(r); err == nil {
		d.Signed = sess
	}
	for _, p := range s.idpList {
		d.IdPs = append(d.IdPs, idpLink{
			Name: p.display(),
			URL:  PathPrefix + "oidc/login/" + p.cfg.Name + "?rd=" + url.QueryEscape(rd),
		})
	}
	return d
}

func (s *Service) loginPage(w http.ResponseWriter, r *http.Request) {
	rd := s.safeReturn(r, r.URL.Query().Get("rd"))
	s.render(w, http.StatusOK, "login", s.loginData(w, r, rd))
}

type accountPage struct {
	Title   string
	S       *Session
	Local   bool
	CSRF    string
	Return  string
	Message string
}

// notices are the messages the account page shows after a change; a
// code, not text, so that a link cannot put words on the page.
var notices = map[string]string{
	"totp":    "Your authenticator app is set up.",
	"passkey": "Your passkey is registered.",
}

// showAccount is the page of the signed-in person.
func (s *Service) showAccount(w http.ResponseWriter, r *http.Request) {
	id, rec, err := s.current(r)
	if err != nil {
		http.Redirect(w, r, PathPrefix+"login", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "account", accountPage{
		Title: "Your session", S: rec.session(id), Local: rec.IdP == "", CSRF: rec.CSRF,
		Message: notices[r.URL.Query().Get("m")],
	})
}
