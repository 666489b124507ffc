package sts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authn"
	"github.com/ztgate/ztgate/internal/iam"
	"github.com/ztgate/ztgate/internal/secret"
	"github.com/ztgate/ztgate/internal/session"
	"github.com/ztgate/ztgate/internal/sigv4"
)

// fakeIAM is one user with an active and a disabled key.
type fakeIAM struct{}

const (
	activeKey   = "AKIAACTIVEACTIVEACTI"
	disabledKey = "AKIADISABLEDDISABLED"
	theSecret   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var alice = iam.User{Name: "alice", ID: "AIDAALICEALICEALICE2", Account: "111122223333"}

func (fakeIAM) Lookup(_ context.Context, id string) (sigv4.Credentials, error) {
	switch id {
	case activeKey:
		return sigv4.Credentials{AccessKeyID: id, Secret: sigv4.NewSecret(theSecret)}, nil
	case disabledKey:
		return sigv4.Credentials{}, sigv4.ErrKeyDisabled
	}
	return sigv4.Credentials{}, sigv4.ErrUnknownKey
}

func (fakeIAM) RecordKeyUse(context.Context, string, string, string) {}

func (fakeIAM) UserOfKey(_ context.Context, id string) (iam.User, error) {
	if id == activeKey {
		return alice, nil
	}
	return iam.User{}, iam.ErrNoSuchEntity
}

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// sign signs r as the AWS CLI does: content-type, host and x-amz-date.
func sign(r *http.Request, body, key, sec, region, service string) {
	signToken(r, body, key, sec, "", region, service)
}

// signToken signs as the AWS CLI does with temporary credentials: the
// session token is a signed header too.
func signToken(r *http.Request, body, key, sec, token, region, service string) {
	signTokenAt(r, now, body, key, sec, token, region, service)
}

// signTokenAt is signToken at another time.
func signTokenAt(r *http.Request, at time.Time, body, key, sec, token, region, service string) {
	amzDate := at.Format("20060102T150405Z")
	date := amzDate[:8]
	r.Header.Set("X-Amz-Date", amzDate)
	signed := "content-type;host;x-amz-date"
	headers := []string{"content-type:" + r.Header.Get("Content-Type"), "host:" + r.Host, "x-amz-date:" + amzDate}
	if token != "" {
		r.Header.Set("X-Amz-Security-Token", token)
		signed += ";x-amz-security-token"
		headers = append(headers, "x-amz-security-token:"+token)
	}
	sum := sha256.Sum256([]byte(body))
	canon := strings.Join(append(append([]string{r.Method, "/", ""}, headers...),
		"", signed, hex.EncodeToString(sum[:])), "\n")
	scope := date + "/" + region + "/" + service + "/aws4_request"
	csum := sha256.Sum256([]byte(canon))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(csum[:])
	k := sigv4.DeriveSigningKey(sigv4.NewSecret(sec), date, region, service)
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(sts))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/"+scope+", SignedHeaders="+signed+", Signature="+hex.EncodeToString(m.Sum(nil)))
}

func newHandler(rec audit.Recorder) *Handler {
	return newHandlerAt(rec, func() time.Time { return now })
}

// newHandlerAt is newHandler with session tokens read on another clock, so
// that a test can let a token expire while its requests stay fresh.
func newHandlerAt(rec audit.Recorder, tokenClock func() time.Time) *Handler {
	kek, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		panic(err)
	}
	tokens := session.New(session.Config{KEK: kek, Clock: tokenClock})
	return New(Config{
		Authenticator: authn.New(authn.Config{
			Verifier: &sigv4.Verifier{Keys: session.KeyStore{Keys: fakeIAM{}, Tokens: tokens}, Service: "sts", Clock: func() time.Time { return now }},
			Users:    fakeIAM{},
			Tokens:   tokens,
			Clock:    func() time.Time { return now },
		}),
		Tokens: tokens,
		Audit:  rec,
		Clock:  func() time.Time { return now },
	})
}

const callerBody = "Action=GetCallerIdentity&Version=2011-06-15"

func TestGetCallerIdentity(t *testing.T) {
	mem := &audit.Memory{}
	h := newHandler(mem)
	r := httptest.NewRequest("POST", "http://sts.localhost/", strings.NewReader(callerBody))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sign(r, callerBody, activeKey, theSecret, "eu-west-3", "sts")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/xml" {
		t.Fatalf("%d %s\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	want := `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:zt:iam::111122223333:user/alice</Arn><UserId>AIDAALICEALICEALICE2</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>` + w.Header().Get("x-amzn-RequestId") + `</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	if w.Body.String() != want {
		t.Fatalf("body:\n%s\nwant:\n%s", w.Body, want)
	}
	recs := mem.Records()
	if len(recs) != 1 {
		t.Fatalf("%d audit records", len(recs))
	}
	a := recs[0]
	if a.ZTGate.Category != audit.CategoryDecision || a.ZTGate.Decision != audit.Allowed || a.UserIdentity.ARN != alice.ARN() ||
		a.UserIdentity.AccessKeyID != activeKey || a.EventName != "GetCallerIdentity" || a.AWSRegion != "eu-west-3" || a.RequestID != w.Header().Get("x-amzn-RequestId") {
		t.Fatalf("audit record: %+v %+v", a, a.ZTGate)
	}

	// A call that cannot be audited is refused.
	mem.Err = errors.New("disk full")
	r = httptest.NewRequest("POST", "http://sts.localhost/", strings.NewReader(callerBody))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(r, callerBody, activeKey, theSecret, "us-east-1", "sts")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 500 || strings.Contains(w.Body.String(), "alice") {
		t.Fatalf("unaudited call: %d %s", w.Code, w.Body)
	}
}

type xmlErr struct {
	Code      string `xml:"Error>Code"`
	RequestID string `xml:"RequestId"`
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, key, secret, service string
		unsigned                         bool
		status                           int
		code                             string
		audited                          bool
		event                            string // the audited event's name; GetCallerIdentity when empty
		at                               time.Time
		alter                            func(*http.Request)
	}{
		{name: "wrong secret", key: activeKey, secret: "not-the-secret", status: 403, code: "SignatureDoesNotMatch", audited: true},
		{name: "unknown key", key: "AKIAUNKNOWNUNKNOWNUN", secret: theSecret, status: 403, code: "InvalidClientTokenId", audited: true},
		{name: "disabled key", key: disabledKey, secret: theSecret, status: 403, code: "InvalidClientTokenId", audited: true},
		{name: "unsigned", unsigned: true, status: 403, code: "MissingAuthenticationToken", audited: true},
		{name: "other service", key: activeKey, secret: theSecret, service: "iam", status: 403, code: "SignatureDoesNotMatch", audited: true},
		{name: "unknown action", body: "Action=AssumeRoot&Version=2011-06-15", key: activeKey, secret: theSecret, status: 400, code: "InvalidAction", audited: true, event: "AssumeRoot"},
		{name: "no action", body: "Version=2011-06-15", key: activeKey, secret: theSecret, status: 400, code: "InvalidAction", audited: true, event: "Unknown"},
		{name: "too large", body: strings.Repeat("a", MaxBody+1), key: activeKey, secret: theSecret, status: 413, code: "RequestEntityTooLarge", audited: true, event: "Unknown"},
		{name: "stale date", key: activeKey, secret: theSecret, at: now.Add(-6 * time.Minute), status: 403, code: "SignatureDoesNotMatch", audited: true},
		{name: "future date", key: activeKey, secret: theSecret, at: now.Add(6 * time.Minute), status: 403, code: "SignatureDoesNotMatch", audited: true},
		{name: "altered header", key: activeKey, secret: theSecret, alter: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, status: 403, code: "SignatureDoesNotMatch", audited: true},
		{name: "malformed Authorization", key: activeKey, secret: theSecret, alter: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+activeKey+"/20261129/us-east-1/sts/aws4_request, Signature=00")
		}, status: 400, code: "IncompleteSignature", audited: true},
		{name: "missing parameter", body: "Action=AssumeRole&Version=2011-06-15&RoleSessionName=s", key: activeKey, secret: theSecret, status: 400, code: "ValidationError", audited: true, event: "AssumeRole"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.body == "" {
				tc.body = callerBody
			}
			if tc.service == "" {
				tc.service = "sts"
			}
			mem := &audit.Memory{}
			r := httptest.NewRequest("POST", "http://sts.localhost/", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			if !tc.unsigned {
				at := tc.at
				if at.IsZero() {
					at = now
				}
				signTokenAt(r, at, tc.body, tc.key, tc.secret, "", "us-east-1", tc.service)
			}
			if tc.alter != nil {
				tc.alter(r)
			}
			w := httptest.NewRecorder()
			newHandler(mem).ServeHTTP(w, r)
			var e xmlErr
			b, _ := io.ReadAll(w.Body)
			if err := xml.Unmarshal(b, &e); err != nil || w.Code != tc.status || e.Code != tc.code || e.RequestID == "" {
				t.Fatalf("%d %s (%v), want %d %s", w.Code, b, err, tc.status, tc.code)
			}
			if strings.Contains(string(b), theSecret) {
				t.Fatal("the secret is in the response")
			}
			recs := mem.Records()
			if !tc.audited {
				if len(recs) != 0 {
					t.Fatalf("audited: %+v", recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("%d audit records", len(recs))
			}
			if tc.event == "" {
				tc.event = "GetCallerIdentity"
			}
			a := recs[0]
			if a.ZTGate.Category != audit.CategoryAuthFail || a.ErrorCode != tc.code || a.UserIdentity.AccessKeyID != tc.key ||
				a.EventName != tc.event || a.RequestID != e.RequestID || a.EventSource != audit.SourceSTS {
				t.Fatalf("audit record: %+v %+v", a, a.ZTGate)
			}
		})
	}
}

func TestClaimedScope(t *testing.T) {
	for _, tc := range []struct{ auth, key, region string }{
		{"AWS4-HMAC-SHA256 Credential=AKIAX/20261129/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00", "AKIAX", "us-east-1"},
		{"AWS4-HMAC-SHA256 Credential=AKIAX, Signature=00", "AKIAX", ""},
		{"garbage", "", ""},
		{"Credential=" + strings.Repeat("A", 500), strings.Repeat("A", 128) + "...", ""},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Authorization", tc.auth)
		if k, reg := claimedScope(r); k != tc.key || reg != tc.region {
			t.Errorf("%q: %q %q", tc.auth, k, reg)
		}
	}
}

const sessionBody = "Action=GetSessionToken&Version=2011-06-15"

type sessionResponse struct {
	XMLName     xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetSessionTokenResponse"`
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      string
	} `xml:"GetSessionTokenResult>Credentials"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// call signs body with the given credentials and serves it.
func call(h *Handler, body, key, sec, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "http://sts.localhost/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	signToken(r, body, key, sec, token, "us-east-1", "sts")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func errCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e xmlErr
	if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	return e.Code
}

func getSessionToken(t *testing.T, h *Handler, body string) sessionResponse {
	t.Helper()
	w := call(h, body, activeKey, theSecret, "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/xml" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var resp sessionResponse
	if err := xml.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%v\n%s", err, w.Body)
	}
	c := resp.Credentials
	want := `<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetSessionTokenResult><Credentials><AccessKeyId>` + c.AccessKeyID +
		`</AccessKeyId><SecretAccessKey>` + c.SecretAccessKey + `</SecretAccessKey><SessionToken>` + c.SessionToken +
		`</SessionToken><Expiration>` + c.Expiration + `</Expiration></Credentials></GetSessionTokenResult><ResponseMetadata><RequestId>` +
		w.Header().Get("x-amzn-RequestId") + `</RequestId></ResponseMetadata></GetSessionTokenResponse>`
	if w.Body.String() != want || resp.RequestID == "" || len(c.AccessKeyID) != 20 || !strings.HasPrefix(c.AccessKeyID, "ASIA") ||
		len(c.SecretAccessKey) != 40 || c.SessionToken == "" {
		t.Fatalf("body:\n%s", w.Body)
	}
	return resp
}

func TestGetSessionToken(t *testing.T) {
	mem := &audit.Memory{}
	tokenNow := now
	h := newHandlerAt(mem, func() time.Time { return tokenNow })

	for _, tc := range []struct {
		body string
		want time.Duration
	}{
		{sessionBody, 12 * time.Hour},
		{sessionBody + "&DurationSeconds=900", 15 * time.Minute},
		{sessionBody + "&DurationSeconds=129600", 36 * time.Hour},
	} {
		resp := getSessionToken(t, h, tc.body)
		if got := resp.Credentials.Expiration; got != now.Add(tc.want).Format(time.RFC3339) {
			t.Errorf("%s: expiration %s, want %v later", tc.body, got, tc.want)
		}
	}
	resp := getSessionToken(t, h, sessionBody)
	c := resp.Credentials

	recs := mem.Records()
	if len(recs) != 4 {
		t.Fatalf("%d audit records", len(recs))
	}
	a := recs[3]
	if a.ZTGate.Category != audit.CategoryIssued || a.EventName != "GetSessionToken" || a.UserIdentity.ARN != alice.ARN() ||
		a.UserIdentity.AccessKeyID != activeKey || a.RequestID != resp.RequestID {
		t.Fatalf("audit record: %+v %+v", a, a.ZTGate)
	}
	if b, err := json.Marshal(recs); err != nil || strings.Contains(string(b), c.SecretAccessKey) || strings.Contains(string(b), c.SessionToken) ||
		!strings.Contains(string(b), c.AccessKeyID) {
		t.Fatalf("audit records hold a secret or lack the key id (%v):\n%s", err, b)
	}

	// The temporary credentials act as the user.
	w := call(h, callerBody, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	want := `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:zt:iam::111122223333:user/alice</Arn><UserId>AIDAALICEALICEALICE2</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>` + w.Header().Get("x-amzn-RequestId") + `</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	if w.Code != 200 || w.Body.String() != want {
		t.Fatalf("GetCallerIdentity with temporary credentials: %d\n%s", w.Code, w.Body)
	}
	recs = mem.Records()
	a = recs[len(recs)-1]
	if a.UserIdentity.AccessKeyID != c.AccessKeyID || a.UserIdentity.ARN != alice.ARN() || a.UserIdentity.SessionContext == nil ||
		!a.UserIdentity.SessionContext.Attributes.CreationDate.Equal(now) {
		t.Fatalf("audit record: %+v", a.UserIdentity)
	}

	// Temporary credentials cannot extend themselves.
	n := len(mem.Records())
	w = call(h, sessionBody, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	if w.Code != 403 || errCode(t, w) != "AccessDenied" || !strings.Contains(w.Body.String(), "Cannot call GetSessionToken with session credentials") {
		t.Fatalf("GetSessionToken with temporary credentials: %d %s", w.Code, w.Body)
	}
	if recs := mem.Records(); len(recs) != n+1 || recs[n].ZTGate.Category != audit.CategoryAuthFail || recs[n].ErrorCode != "AccessDenied" {
		t.Fatal("a refused GetSessionToken issued something, or was not audited as refused")
	}

	for name, tc := range map[string]struct {
		key, sec, token, code string
	}{
		"wrong secret":        {c.AccessKeyID, theSecret, c.SessionToken, "SignatureDoesNotMatch"},
		"no token":            {c.AccessKeyID, c.SecretAccessKey, "", "InvalidClientTokenId"},
		"garbage token":       {c.AccessKeyID, c.SecretAccessKey, "garbage", "InvalidClientTokenId"},
		"another key's token": {"ASIAAAAAAAAAAAAAAAAA", c.SecretAccessKey, c.SessionToken, "InvalidClientTokenId"},
		"long-term key":       {activeKey, theSecret, c.SessionToken, "InvalidClientTokenId"},
	} {
		if w := call(h, callerBody, tc.key, tc.sec, tc.token); w.Code != 403 || errCode(t, w) != tc.code {
			t.Errorf("%s: %d %s, want %s", name, w.Code, w.Body, tc.code)
		}
	}

	// Expired: the request is fresh, the token is not.
	tokenNow = now.Add(12 * time.Hour)
	w = call(h, callerBody, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	if w.Code != 403 || errCode(t, w) != "ExpiredToken" || !strings.Contains(w.Body.String(), "The security token included in the request is expired") {
		t.Fatalf("expired: %d %s", w.Code, w.Body)
	}
	recs = mem.Records()
	if a := recs[len(recs)-1]; a.ZTGate.Category != audit.CategoryAuthFail || a.ErrorCode != "ExpiredToken" {
		t.Fatalf("audit record: %+v %+v", a, a.ZTGate)
	}
}

func TestGetSessionTokenRefused(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"too short", sessionBody + "&DurationSeconds=899", 400, "ValidationError"},
		{"too long", sessionBody + "&DurationSeconds=129601", 400, "ValidationError"},
		{"not a number", sessionBody + "&DurationSeconds=1h", 400, "MalformedInput"},
		{"MFA", sessionBody + "&SerialNumber=arn:zt:iam::111122223333:mfa/alice&TokenCode=123456", 403, "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := &audit.Memory{}
			w := call(newHandler(mem), tc.body, activeKey, theSecret, "")
			if w.Code != tc.status || errCode(t, w) != tc.code {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if recs := mem.Records(); len(recs) != 1 || recs[0].ZTGate.Category != audit.CategoryAuthFail || recs[0].ErrorCode != tc.code {
				t.Fatalf("a refused call issued something, or was not audited as refused: %+v", recs)
			}
		})
	}

	// Unaudited issues are refused.
	mem := &audit.Memory{Err: errors.New("disk full")}
	if w := call(newHandler(mem), sessionBody, activeKey, theSecret, ""); w.Code != 500 || strings.Contains(w.Body.String(), "ASIA") {
		t.Fatalf("unaudited: %d %s", w.Code, w.Body)
	}
}
