package sigv4

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/conformance"
)

// suiteDir locates the SigV4 suite, read in place, or skips.
func suiteDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv(conformance.Env)
	if root == "" {
		root = conformance.Root()
	}
	dir := filepath.Join(root, "sigv4")
	if _, err := os.Stat(filepath.Join(dir, "v4")); err != nil {
		t.Skipf("SigV4 conformance suite not found at %q (set %s): %v", dir, conformance.Env, err)
	}
	return dir
}

type suiteContext struct {
	Credentials struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		Token           string `json:"token"`
	} `json:"credentials"`
	Expiration       int       `json:"expiration_in_seconds"`
	Normalize        bool      `json:"normalize"`
	Region           string    `json:"region"`
	Service          string    `json:"service"`
	SignBody         bool      `json:"sign_body"`
	Timestamp        time.Time `json:"timestamp"`
	OmitSessionToken bool      `json:"omit_session_token"`
}

func readContext(t *testing.T, dir string) suiteContext {
	t.Helper()
	var c suiteContext
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "context.json")), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeKeys is a KeyStore over a map.
type fakeKeys map[string]Credentials

var _ KeyStore = fakeKeys(nil)

func (f fakeKeys) Lookup(_ context.Context, id string) (Credentials, error) {
	c, ok := f[id]
	if !ok {
		return Credentials{}, ErrUnknownKey
	}
	return c, nil
}

// parseSuiteRequest reads the suite's request files by hand: their request
// lines are not valid HTTP (raw spaces and UTF-8 in paths, sometimes no
// protocol). The result looks like what net/http's server produces: Host
// moved to r.Host, RequestURI the raw target, header keys canonical,
// folded lines joined with a space.
func parseSuiteRequest(t testing.TB, data []byte) (*http.Request, []byte) {
	t.Helper()
	text := string(data)
	head, body, hasBody := strings.Cut(text, "\n\n")
	lines := strings.Split(head, "\n")
	method, target, ok := strings.Cut(lines[0], " ")
	if !ok {
		t.Fatalf("bad request line %q", lines[0])
	}
	target = strings.TrimSuffix(target, " HTTP/1.1")
	r := &http.Request{Method: method, RequestURI: target, Header: http.Header{}, ContentLength: -1}
	p, q, _ := strings.Cut(target, "?")
	r.URL = &url.URL{Path: p, RawQuery: q}
	var last string
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			vs := r.Header[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(l)
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("bad header line %q", l)
		}
		k = textproto.CanonicalMIMEHeaderKey(k)
		v = strings.TrimLeft(v, " ")
		if k == "Host" {
			r.Host = v
		}
		r.Header[k] = append(r.Header[k], v)
		last = k
	}
	delete(r.Header, "Host")
	if cl := r.Header.Get("Content-Length"); cl != "" {
		r.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	var b []byte
	if hasBody && body != "" {
		b = []byte(body)
	}
	return r, b
}

// canonicalOf recomputes the canonical request and string to sign through
// the verifier's own steps, for comparison with the suite's files.
func canonicalOf(t *testing.T, v *Verifier, r *http.Request, body []byte) (string, string) {
	t.Helper()
	return canonicalOfTB(t, v, r, body)
}

func canonicalOfTB(t testing.TB, v *Verifier, r *http.Request, body []byte) (string, string) {
	t.Helper()
	var q request
	var e *Error
	if h := r.Header.Get("Authorization"); h != "" {
		e = q.fromHeader(r, h, true)
	} else {
		e = q.fromQuery(r)
	}
	if e != nil {
		t.Fatalf("parse: %v", e)
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	payload := string(s.sha256Hex(nil, body))
	if c := r.Header.Get("X-Amz-Content-Sha256"); c != "" {
		payload = c
	}
	canon, _ := q.appendCanonicalRequest(s, nil, r, v.S3Paths, []byte(payload), v.AllowUnsignedSessionToken)
	sts := appendStringToSign(s, nil, &q.auth, q.amzDate, canon)
	return string(canon), string(sts)
}

func verifierFor(c suiteContext, now time.Time) *Verifier {
	creds := Credentials{AccessKeyID: c.Credentials.AccessKeyID, Secret: NewSecret(c.Credentials.SecretAccessKey), SessionToken: c.Credentials.Token}
	return &Verifier{
		Keys:                      fakeKeys{creds.AccessKeyID: creds},
		Clock:                     func() time.Time { return now },
		S3Paths:                   !c.Normalize,
		AllowUnsignedSessionToken: c.OmitSessionToken,
	}
}

func caseDirs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestConformanceV4(t *testing.T) {
	root := filepath.Join(suiteDir(t), "v4")
	var headerOK, queryOK, total, tampers int
	for _, name := range caseDirs(t, root) {
		dir := filepath.Join(root, name)
		total++
		t.Run(name, func(t *testing.T) {
			c := readContext(t, dir)
			for _, flavour := range []string{"header", "query"} {
				v := verifierFor(c, c.Timestamp)
				r, body := parseSuiteRequest(t, mustRead(t, filepath.Join(dir, flavour+"-signed-request.txt")))
				canon, sts := canonicalOf(t, v, r, body)
				if want := string(mustRead(t, filepath.Join(dir, flavour+"-canonical-request.txt"))); canon != strings.TrimRight(want, "\n") {
					t.Errorf("%s canonical request:\n%s\nwant:\n%s", flavour, canon, want)
				}
				if want := string(mustRead(t, filepath.Join(dir, flavour+"-string-to-sign.txt"))); sts != strings.TrimRight(want, "\n") {
					t.Errorf("%s string to sign:\n%s\nwant:\n%s", flavour, sts, want)
				}
				res, err := v.Verify(r, body)
				if err != nil {
					t.Errorf("%s: %v", flavour, err)
					continue
				}
				if res.AccessKeyID != c.Credentials.AccessKeyID || res.Region != c.Region || res.Service != c.Service ||
					!res.Time.Equal(c.Timestamp) || res.Presigned != (flavour == "query") || res.HasSessionToken != (c.Credentials.Token != "") {
					t.Errorf("%s: result %+v", flavour, res)
				}
				if flavour == "header" {
					headerOK++
				} else {
					queryOK++
				}
				// Presigned requests stay valid until expiry.
				if flavour == "query" {
					late := verifierFor(c, c.Timestamp.Add(time.Duration(c.Expiration)*time.Second))
					if _, err := late.Verify(r, body); err != nil {
						t.Errorf("query at expiry: %v", err)
					}
					later := verifierFor(c, c.Timestamp.Add(time.Duration(c.Expiration+1)*time.Second))
					if _, err := later.Verify(r, body); !errors.Is(err, &Error{Code: CodeRequestExpired}) {
						t.Errorf("query after expiry: %v", err)
					}
				}
				tampers += checkTampered(t, v, flavour, r, body)
			}
		})
	}
	t.Logf("sigv4 v4: %d/%d header, %d/%d query passed; %d tampered variants rejected", headerOK, total, queryOK, total, tampers)
	if headerOK != total || queryOK != total {
		t.Errorf("sigv4 v4: %d/%d header, %d/%d query passed", headerOK, total, queryOK, total)
	}
}

func cloneRequest(r *http.Request) *http.Request {
	c := *r
	c.Header = r.Header.Clone()
	u := *r.URL
	c.URL = &u
	return &c
}

// setRawQuery changes the query in both places the verifier may read it.
func setRawQuery(r *http.Request, q string) {
	r.URL.RawQuery = q
	p, _, _ := strings.Cut(r.RequestURI, "?")
	if q != "" {
		p += "?" + q
	}
	r.RequestURI = p
}

// checkTampered alters each signed part of a verified request in turn and
// requires a rejection with the right code. It returns how many variants
// it tried.
func checkTampered(t *testing.T, v *Verifier, flavour string, r *http.Request, body []byte) int {
	t.Helper()
	type variant struct {
		name string
		r    *http.Request
		body []byte
		code string // "" = any *Error
	}
	var vs []variant
	add := func(name, code string, f func(r *http.Request), b []byte) {
		c := cloneRequest(r)
		f(c)
		vs = append(vs, variant{name, c, b, code})
	}
	sig := "Signature="
	if flavour == "query" {
		sig = "X-Amz-Signature="
	}
	// Every signed header value.
	var q request
	if flavour == "header" {
		_ = q.fromHeader(r, r.Header.Get("Authorization"), true)
	} else {
		_ = q.fromQuery(r)
	}
	for _, h := range strings.Split(q.auth.signedHeaders, ";") {
		code := CodeSignatureDoesNotMatch
		switch h {
		case "x-amz-security-token":
			code = CodeInvalidClientTokenID
		case "x-amz-content-sha256":
			code = CodeContentSHA256Mismatch
		case "x-amz-date":
			code = "" // the date's own variant below checks the code
		}
		add("header "+h, code, func(c *http.Request) {
			if h == "host" {
				c.Host += "x"
				return
			}
			k := textproto.CanonicalMIMEHeaderKey(h)
			vals := c.Header[k]
			vals = append([]string(nil), vals...)
			if h == "x-amz-content-sha256" { // stay a well-formed digest
				last := vals[len(vals)-1]
				vals[len(vals)-1] = last[:len(last)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(last, "0")]
			} else {
				vals[len(vals)-1] += "x"
			}
			c.Header[k] = vals
		}, body)
	}
	// Every query value (the signature's own included).
	if raw := r.URL.RawQuery; raw != "" {
		parts := strings.Split(raw, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			code := CodeSignatureDoesNotMatch
			switch k {
			case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires":
				code = "" // malformed or out of scope: any rejection
			case "X-Amz-Security-Token":
				code = CodeInvalidClientTokenID
			}
			add("query "+k, code, func(c *http.Request) {
				np := append([]string(nil), parts...)
				if strings.Contains(np[i], "=") {
					np[i] += "0"
				} else {
					np[i] += "=x"
				}
				setRawQuery(c, strings.Join(np, "&"))
			}, body)
		}
	}
	// The date, one second later: still within skew, so only the signature
	// catches it.
	add("date", CodeSignatureDoesNotMatch, func(c *http.Request) {
		if flavour == "header" {
			c.Header.Set("X-Amz-Date", q.t.Add(time.Second).Format(amzDateFormat))
		} else {
			setRawQuery(c, strings.Replace(c.URL.RawQuery, "X-Amz-Date="+q.amzDate, "X-Amz-Date="+q.t.Add(time.Second).Format(amzDateFormat), 1))
		}
	}, body)
	add("path", CodeSignatureDoesNotMatch, func(c *http.Request) {
		p, rest, _ := strings.Cut(c.RequestURI, "?")
		c.RequestURI = p + "x"
		if rest != "" || strings.Contains(r.RequestURI, "?") {
			c.RequestURI += "?" + rest
		}
		c.URL.Path += "x"
	}, body)
	bodyCode := CodeSignatureDoesNotMatch
	if r.Header.Get("X-Amz-Content-Sha256") != "" {
		bodyCode = CodeContentSHA256Mismatch
	}
	add("body", bodyCode, func(*http.Request) {}, append(append([]byte(nil), body...), 'x'))
	add("method", CodeSignatureDoesNotMatch, func(c *http.Request) { c.Method = "PUT" }, body)
	add("signature", CodeSignatureDoesNotMatch, func(c *http.Request) {
		flip := func(s string) string {
			i := strings.Index(s, sig) + len(sig)
			b := []byte(s)
			if b[i] == '0' {
				b[i] = '1'
			} else {
				b[i] = '0'
			}
			return string(b)
		}
		if flavour == "header" {
			c.Header.Set("Authorization", flip(c.Header.Get("Authorization")))
		} else {
			setRawQuery(c, flip(c.URL.RawQuery))
		}
	}, body)

	for _, tv := range vs {
		_, err := v.Verify(tv.r, tv.body)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s tampered %s: got %v, want rejection", flavour, tv.name, err)
			continue
		}
		if tv.code != "" && e.Code != tv.code {
			t.Errorf("%s tampered %s: got %v, want %s", flavour, tv.name, err, tv.code)
		}
		for _, secret := range []string{"wJalrXUtnFEMI", "AWS4-HMAC-SHA256\n"} {
			if strings.Contains(e.Message, secret) {
				t.Errorf("%s tampered %s: error leaks %q: %v", flavour, tv.name, secret, e)
			}
		}
	}
	return len(vs)
}

func TestConformanceV4A(t *testing.T) {
	root := filepath.Join(suiteDir(t), "v4a")
	var complete, headerOK, queryOK, keysOK int
	for _, name := range caseDirs(t, root) {
		dir := filepath.Join(root, name)
		if _, err := os.Stat(filepath.Join(dir, "public-key.json")); err != nil {
			continue // the two stub cases have no signed requests
		}
		complete++
		t.Run(name, func(t *testing.T) {
			c := readContext(t, dir)
			var pk struct{ X, Y string }
			if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "public-key.json")), &pk); err != nil {
				t.Fatal(err)
			}
			priv, err := DeriveECDSAKey(c.Credentials.AccessKeyID, NewSecret(c.Credentials.SecretAccessKey))
			if err != nil {
				t.Fatal(err)
			}
			if x, y := hexPad(priv.X.Bytes()), hexPad(priv.Y.Bytes()); x != pk.X || y != pk.Y {
				t.Errorf("public key (%s, %s), want (%s, %s)", x, y, pk.X, pk.Y)
			} else {
				keysOK++
			}
			for _, flavour := range []string{"header", "query"} {
				v := verifierFor(c, c.Timestamp)
				v.Region = c.Region
				r, body := parseSuiteRequest(t, mustRead(t, filepath.Join(dir, flavour+"-signed-request.txt")))
				canon, sts := canonicalOf(t, v, r, body)
				if want := string(mustRead(t, filepath.Join(dir, flavour+"-canonical-request.txt"))); canon != strings.TrimRight(want, "\n") {
					t.Errorf("%s canonical request:\n%s\nwant:\n%s", flavour, canon, want)
				}
				if want := string(mustRead(t, filepath.Join(dir, flavour+"-string-to-sign.txt"))); sts != strings.TrimRight(want, "\n") {
					t.Errorf("%s string to sign:\n%s\nwant:\n%s", flavour, sts, want)
				}
				res, err := v.Verify(r, body)
				if err != nil {
					t.Errorf("%s: %v", flavour, err)
					continue
				}
				if res.Algorithm != AlgorithmV4A || res.Region != c.Region {
					t.Errorf("%s: result %+v", flavour, res)
				}
				if flavour == "header" {
					headerOK++
				} else {
					queryOK++
				}
				// A region set that does not cover the server's region.
				other := verifierFor(c, c.Timestamp)
				other.Region = "eu-west-1"
				if _, err := other.Verify(r, body); !errors.Is(err, &Error{Code: CodeSignatureDoesNotMatch}) {
					t.Errorf("%s: foreign region set: %v", flavour, err)
				}
				checkTampered(t, v, flavour, r, body)
			}
		})
	}
	t.Logf("sigv4 v4a: %d/%d header, %d/%d query passed; %d/%d public keys match", headerOK, complete, queryOK, complete, keysOK, complete)
	if headerOK != complete || queryOK != complete || keysOK != complete {
		t.Errorf("sigv4 v4a: %d/%d header, %d/%d query, %d/%d keys", headerOK, complete, queryOK, complete, keysOK, complete)
	}
}

func hexPad(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 64)
	for range 32 - len(b) {
		out = append(out, '0', '0')
	}
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestConformanceExtras runs the two old-format cases smithy-rs added. They
// have no context.json; the scope comes from the Credential. double-url-encode
// is signed by AKIDEXAMPLE with the suite's secret, double-encode-path by
// smithy-rs's dummy key ANOTREAL with its dummy secret (found by
// recomputation: the suite's README says both use the suite's).
func TestConformanceExtras(t *testing.T) {
	root := filepath.Join(suiteDir(t), "extras-smithy-rs")
	secrets := map[string]string{
		"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		"ANOTREAL":    "notrealrnrELgWzOk3IfjzDKtFBhDby",
	}
	for _, name := range []string{"double-encode-path", "double-url-encode"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, name)
			r, body := parseSuiteRequest(t, mustRead(t, filepath.Join(dir, "header-signed-request.txt")))
			var q request
			if e := q.fromHeader(r, r.Header.Get("Authorization"), false); e != nil {
				t.Fatal(e)
			}
			creds := Credentials{AccessKeyID: q.auth.accessKeyID, Secret: NewSecret(secrets[q.auth.accessKeyID])}
			v := &Verifier{Keys: fakeKeys{creds.AccessKeyID: creds}, Clock: func() time.Time { return q.t }}
			canon, sts := canonicalOf(t, v, r, body)
			wantCanon := strings.TrimRight(string(mustRead(t, filepath.Join(dir, "header-canonical-request.txt"))), "\n")
			// Only the path line is comparable in double-encode-path: its
			// canonical file was made from a request with another host and
			// date than the signed one.
			if got, want := strings.Split(canon, "\n")[1], strings.Split(wantCanon, "\n")[1]; got != want {
				t.Errorf("canonical URI %q, want %q", got, want)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "header-string-to-sign.txt")); err == nil {
				if want := strings.TrimRight(string(b), "\n"); sts != want {
					t.Errorf("string to sign:\n%s\nwant:\n%s", sts, want)
				}
			}
			if _, err := v.Verify(r, body); err != nil {
				t.Error(err)
			} else {
				t.Logf("sigv4 extras %s: verified", name)
			}
		})
	}
}
