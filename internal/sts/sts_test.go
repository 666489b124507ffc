package sts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/iam"
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

func (fakeIAM) UserOfKey(_ context.Context, id string) (iam.User, error) {
	if id == activeKey {
		return alice, nil
	}
	return iam.User{}, iam.ErrNoSuchEntity
}

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// sign signs r as the AWS CLI does: content-type, host and x-amz-date.
func sign(r *http.Request, body, key, sec, region, service string) {
	amzDate := now.Format("20060102T150405Z")
	date := amzDate[:8]
	r.Header.Set("X-Amz-Date", amzDate)
	sum := sha256.Sum256([]byte(body))
	canon := strings.Join([]string{
		r.Method, "/", "",
		"content-type:" + r.Header.Get("Content-Type"),
		"host:" + r.Host,
		"x-amz-date:" + amzDate, "",
		"content-type;host;x-amz-date",
		hex.EncodeToString(sum[:]),
	}, "\n")
	scope := date + "/" + region + "/" + service + "/aws4_request"
	csum := sha256.Sum256([]byte(canon))
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(csum[:])
	k := sigv4.DeriveSigningKey(sigv4.NewSecret(sec), date, region, service)
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(sts))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/"+scope+", SignedHeaders=content-type;host;x-amz-date, Signature="+hex.EncodeToString(m.Sum(nil)))
}

func newHandler(rec audit.Recorder) *Handler {
	return New(Config{
		Verifier: &sigv4.Verifier{Keys: fakeIAM{}, Service: "sts", Clock: func() time.Time { return now }},
		Users:    fakeIAM{},
		Audit:    rec,
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
	}{
		{name: "wrong secret", key: activeKey, secret: "not-the-secret", status: 403, code: "SignatureDoesNotMatch", audited: true},
		{name: "unknown key", key: "AKIAUNKNOWNUNKNOWNUN", secret: theSecret, status: 403, code: "InvalidClientTokenId", audited: true},
		{name: "disabled key", key: disabledKey, secret: theSecret, status: 403, code: "AccessDenied", audited: true},
		{name: "unsigned", unsigned: true, status: 403, code: "MissingAuthenticationToken", audited: true},
		{name: "other service", key: activeKey, secret: theSecret, service: "iam", status: 403, code: "SignatureDoesNotMatch", audited: true},
		{name: "unknown action", body: "Action=AssumeRoot&Version=2011-06-15", key: activeKey, secret: theSecret, status: 400, code: "InvalidAction"},
		{name: "no action", body: "Version=2011-06-15", key: activeKey, secret: theSecret, status: 400, code: "InvalidAction"},
		{name: "too large", body: strings.Repeat("a", MaxBody+1), key: activeKey, secret: theSecret, status: 413, code: "RequestEntityTooLarge"},
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
				sign(r, tc.body, tc.key, tc.secret, "us-east-1", tc.service)
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
			a := recs[0]
			if a.ZTGate.Category != audit.CategoryAuthFail || a.ErrorCode != tc.code || a.UserIdentity.AccessKeyID != tc.key ||
				a.EventName != "GetCallerIdentity" || a.RequestID != e.RequestID || a.EventSource != audit.SourceSTS {
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
