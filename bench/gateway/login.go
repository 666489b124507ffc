package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// ztgateLoginCmd signs in to ztgate as a local user, as a browser does:
// the login form (its CSRF token and cookie), the password, then the TOTP
// step with a code computed from the user's otpauth secret. It prints the
// session cookie, ready for a Cookie header.
//
// Cookies are carried by hand: the __Host- cookies are Secure, and a
// cookie jar would not send them over plain http, as browsers do for
// *.localhost.
func ztgateLoginCmd(args []string) error {
	fs := flag.NewFlagSet("ztgate-login", flag.ExitOnError)
	base := fs.String("url", "", "ztgate's base URL (http://127.0.0.1:PORT)")
	host := fs.String("host", "", "a gateway route's host")
	credFile := fs.String("credentials", "", "the user's credentials (DATA_DIR/demo.credentials of serve --dev)")
	cookieName := fs.String("cookie", "__Host-ztgate", "the session cookie's name")
	fs.Parse(args)
	user, password, otpauth, err := readLocalUser(*credFile)
	if err != nil {
		return err
	}
	secret, err := totpSecret(otpauth)
	if err != nil {
		return err
	}
	b := &browser{base: strings.TrimSuffix(*base, "/"), host: *host, cookies: map[string]string{}}

	page, status, err := b.do(http.MethodGet, "/.ztgate/login", nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("login page: status %d: %v", status, err)
	}
	csrf, err := formCSRF(page)
	if err != nil {
		return err
	}
	page, status, err = b.do(http.MethodPost, "/.ztgate/login", url.Values{
		"csrf": {csrf}, "rd": {"/"}, "username": {user}, "password": {password},
	})
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("password step: status %d: %v", status, err)
	}
	if csrf, err = formCSRF(page); err != nil {
		return err
	}
	_, status, err = b.do(http.MethodPost, "/.ztgate/login/totp", url.Values{
		"csrf": {csrf}, "code": {totpCode(secret, time.Now())},
	})
	if err != nil || status != http.StatusSeeOther {
		return fmt.Errorf("TOTP step: status %d: %v", status, err)
	}
	v, ok := b.cookies[*cookieName]
	if !ok {
		return fmt.Errorf("signed in, but no %s cookie was set", *cookieName)
	}
	fmt.Printf("%s=%s\n", *cookieName, v)
	return nil
}

// oauth2ProxyLoginCmd signs in to oauth2-proxy with an htpasswd user and
// prints its session cookies, ready for a Cookie header.
func oauth2ProxyLoginCmd(args []string) error {
	fs := flag.NewFlagSet("oauth2proxy-login", flag.ExitOnError)
	base := fs.String("url", "", "oauth2-proxy's base URL")
	user := fs.String("user", "", "htpasswd user")
	password := fs.String("password", "", "htpasswd password")
	fs.Parse(args)
	b := &browser{base: strings.TrimSuffix(*base, "/"), cookies: map[string]string{}}
	_, status, err := b.do(http.MethodPost, "/oauth2/sign_in", url.Values{"username": {*user}, "password": {*password}, "rd": {"/"}})
	if err != nil || status != http.StatusFound {
		return fmt.Errorf("sign-in: status %d: %v", status, err)
	}
	var parts []string
	for k, v := range b.cookies {
		if strings.HasPrefix(k, "_oauth2_proxy") && !strings.HasSuffix(k, "_csrf") {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return errors.New("signed in, but no _oauth2_proxy cookie was set")
	}
	fmt.Println(strings.Join(parts, "; "))
	return nil
}

// htpasswdCmd prints an htpasswd line with a {SHA} hash, which
// oauth2-proxy accepts; bcrypt would cost only at sign-in, which is not
// measured.
func htpasswdCmd(args []string) error {
	fs := flag.NewFlagSet("htpasswd", flag.ExitOnError)
	user := fs.String("user", "", "user name")
	password := fs.String("password", "", "password")
	fs.Parse(args)
	h := sha1.Sum([]byte(*password))
	fmt.Printf("%s:{SHA}%s\n", *user, base64.StdEncoding.EncodeToString(h[:]))
	return nil
}

// browser is the little of a browser that a sign-in needs: it keeps
// cookies and does not follow redirects.
type browser struct {
	base, host string
	cookies    map[string]string
}

var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (b *browser) do(method, path string, form url.Values) (string, int, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return "", 0, err
	}
	if b.host != "" {
		req.Host = b.host
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return string(page), resp.StatusCode, err
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func formCSRF(page string) (string, error) {
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("no csrf field in the page: %.300s", page)
	}
	return m[1], nil
}

// readLocalUser reads the "user:", "password:" and "totp:" lines that
// serve --dev writes for its demo user.
func readLocalUser(file string) (user, password, otpauth string, err error) {
	f, err := os.Open(file)
	if err != nil {
		return "", "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch v = strings.TrimSpace(v); strings.TrimSpace(k) {
		case "user":
			user = v
		case "password":
			password = v
		case "totp":
			otpauth = v
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", "", err
	}
	if user == "" || password == "" || otpauth == "" {
		return "", "", "", fmt.Errorf("%s: want user, password and totp lines", file)
	}
	return user, password, otpauth, nil
}

// totpSecret is the key of an otpauth://totp/ URL.
func totpSecret(otpauth string) ([]byte, error) {
	u, err := url.Parse(otpauth)
	if err != nil || u.Scheme != "otpauth" {
		return nil, errors.New("totp: not an otpauth URL")
	}
	q := u.Query()
	if a := q.Get("algorithm"); a != "" && !strings.EqualFold(a, "SHA1") {
		return nil, fmt.Errorf("totp: algorithm %s, want SHA1", a)
	}
	if d := q.Get("digits"); d != "" && d != "6" {
		return nil, fmt.Errorf("totp: %s digits, want 6", d)
	}
	if p := q.Get("period"); p != "" && p != "30" {
		return nil, fmt.Errorf("totp: period %s, want 30", p)
	}
	s := strings.TrimRight(strings.ToUpper(q.Get("secret")), "=")
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// totpCode is RFC 6238 with SHA-1, six digits and 30-second steps.
func totpCode(key []byte, now time.Time) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(now.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}
