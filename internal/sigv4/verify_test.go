package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testAKID   = "AKIDZTGATETEST"
	testSecret = "ztgate-test-secret-0123456789abcdefghijk"
)

var testTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// stsRequest is what the AWS CLI sends for sts get-caller-identity.
func stsRequest() (*http.Request, []byte) {
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	r := &http.Request{
		Method: "POST", RequestURI: "/", URL: &url.URL{Path: "/"}, Host: "sts.ztgate.test",
		Header: http.Header{
			"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"},
			"User-Agent":   {"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64 command/sts.get-caller-identity"},
		},
		ContentLength: int64(len(body)),
	}
	return r, body
}

// sign adds a SigV4 Authorization header, computing the signature with the
// package's canonicalisation (checked against the suite elsewhere).
func sign(t testing.TB, r *http.Request, body []byte, secret, akid, region, service string, at time.Time, signed string) {
	t.Helper()
	amz := at.UTC().Format(amzDateFormat)
	r.Header.Set("X-Amz-Date", amz)
	scope := amz[:8] + "/" + region + "/" + service + "/aws4_request"
	r.Header.Set("Authorization", AlgorithmV4+" Credential="+akid+"/"+scope+", SignedHeaders="+signed+", Signature="+strings.Repeat("0", 64))
	var q request
	if e := q.fromHeader(r, r.Header.Get("Authorization"), true); e != nil {
		t.Fatal(e)
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	payload := string(s.sha256Hex(nil, body))
	if c := r.Header.Get("X-Amz-Content-Sha256"); c != "" {
		payload = c
	}
	canon, _ := q.appendCanonicalRequest(s, nil, r, false, []byte(payload), false)
	sts := appendStringToSign(s, nil, &q.auth, amz, canon)
	k := DeriveSigningKey(NewSecret(secret), amz[:8], region, service)
	m := hmac.New(sha256.New, k[:])
	m.Write(sts)
	r.Header.Set("Authorization", AlgorithmV4+" Credential="+akid+"/"+scope+", SignedHeaders="+signed+", Signature="+hex.EncodeToString(m.Sum(nil)))
}

func testVerifier(now time.Time) *Verifier {
	return &Verifier{
		Keys:  fakeKeys{testAKID: {AccessKeyID: testAKID, Secret: NewSecret(testSecret)}},
		Clock: func() time.Time { return now },
	}
}

func signedSTS(t testing.TB) (*http.Request, []byte) {
	r, body := stsRequest()
	sign(t, r, body, testSecret, testAKID, "us-east-1", "sts", testTime, "content-type;host;x-amz-date")
	return r, body
}

func TestVerifySTS(t *testing.T) {
	r, body := signedSTS(t)
	v := testVerifier(testTime)
	v.Region, v.Service = "us-east-1", "sts"
	res, err := v.Verify(r, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"content-type", "host", "x-amz-date"}
	if res.AccessKeyID != testAKID || res.Region != "us-east-1" || res.Service != "sts" || res.Presigned ||
		!res.Time.Equal(testTime) || strings.Join(res.SignedHeaders, ";") != strings.Join(want, ";") {
		t.Errorf("result %+v", res)
	}
}

func wantCode(t *testing.T, err error, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *Error %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("got %s (%s), want %s", e.Code, e.Message, code)
	}
	if strings.Contains(e.Message, testSecret) {
		t.Fatalf("message leaks the secret: %s", e.Message)
	}
	return e
}

func TestVerifyRejects(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	tests := []struct {
		name, auth, code, msg string
		edit                  func(r *http.Request)
		v                     func(v *Verifier)
	}{
		{name: "no auth", code: CodeMissingAuthenticationToken, msg: "Request is missing Authentication Token"},
		{name: "no credential", auth: "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + sig, code: CodeIncompleteSignature,
			msg: "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host, Signature=[REDACTED]"},
		{name: "everything missing", auth: "AWS4-HMAC-SHA256 ", code: CodeIncompleteSignature,
			edit: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			msg:  "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 "},
		{name: "missing equals", auth: "AWS4-HMAC-SHA256 Credential " + testAKID, code: CodeIncompleteSignature},
		{name: "algorithm", auth: "AWS4-HMAC-SHA512 Credential=x", code: CodeIncompleteSignature, msg: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'"},
		{name: "short credential", auth: "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260101/us-east-1/sts, SignedHeaders=host, Signature=" + sig, code: CodeIncompleteSignature,
			msg: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + testAKID + "/20260101/us-east-1/sts'"},
		{name: "terminator", auth: "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260101/us-east-1/sts/aws5_request, SignedHeaders=host, Signature=" + sig, code: CodeIncompleteSignature,
			msg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "unknown key", auth: "AWS4-HMAC-SHA256 Credential=AKIDNOPE/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			code: CodeInvalidClientTokenID, msg: msgInvalidToken},
		{name: "bad signature", auth: "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			code: CodeSignatureDoesNotMatch, msg: msgSignatureDoesNotMatch},
		{name: "host unsigned", auth: "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260101/us-east-1/sts/aws4_request, SignedHeaders=x-amz-date, Signature=" + sig,
			code: CodeSignatureDoesNotMatch},
		{name: "scope date", auth: "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20251231/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			code: CodeSignatureDoesNotMatch, msg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', from '20260101T000000Z'."},
		{name: "wrong region", auth: "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260101/eu-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			code: CodeSignatureDoesNotMatch, v: func(v *Verifier) { v.Region = "us-east-1" }},
		{name: "wrong service", auth: "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260101/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			code: CodeSignatureDoesNotMatch, msg: "Credential should be scoped to correct service: 'sts'. ", v: func(v *Verifier) { v.Service = "sts" }},
		{name: "expired", code: CodeSignatureDoesNotMatch, v: func(v *Verifier) { v.Clock = func() time.Time { return testTime.Add(6 * time.Minute) } },
			msg: "Signature expired: 20260101T000000Z is now earlier than 20260101T000100Z (20260101T000600Z - 5 min.)"},
		{name: "future", code: CodeSignatureDoesNotMatch, v: func(v *Verifier) { v.Clock = func() time.Time { return testTime.Add(-6 * time.Minute) } },
			msg: "Signature not yet current: 20260101T000000Z is still later than 20251231T235900Z (20251231T235400Z + 5 min.)"},
		{name: "unsigned payload refused", code: CodeAccessDenied, edit: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload) }},
		{name: "content sha mismatch", code: CodeContentSHA256Mismatch, edit: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64)) }},
		{name: "unexpected token", code: CodeInvalidClientTokenID, edit: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "tok") },
			auth: "AWS4-HMAC-SHA256 Credential=" + testAKID + "/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=" + sig},
		{name: "expired token", code: CodeExpiredToken, v: func(v *Verifier) { v.Keys = errKeys{ErrExpiredToken} }},
		{name: "disabled key", code: CodeInvalidClientTokenID, v: func(v *Verifier) { v.Keys = errKeys{fmt.Errorf("lookup: %w", ErrKeyDisabled)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := signedSTS(t)
			switch {
			case tt.name == "no auth":
				r.Header.Del("Authorization")
			case tt.auth != "":
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.edit != nil {
				tt.edit(r)
			}
			v := testVerifier(testTime)
			if tt.v != nil {
				tt.v(v)
			}
			_, err := v.Verify(r, body)
			e := wantCode(t, err, tt.code)
			if tt.msg != "" && e.Message != tt.msg {
				t.Errorf("message:\n%q\nwant\n%q", e.Message, tt.msg)
			}
			if strings.Contains(e.Message, sig) {
				t.Errorf("message echoes the signature: %s", e.Message)
			}
		})
	}
}

type errKeys struct{ err error }

func (e errKeys) Lookup(context.Context, string) (Credentials, error) { return Credentials{}, e.err }

func TestInternalKeyStoreError(t *testing.T) {
	r, body := signedSTS(t)
	v := testVerifier(testTime)
	boom := errors.New("database down")
	v.Keys = errKeys{boom}
	_, err := v.Verify(r, body)
	var e *Error
	if errors.As(err, &e) || !errors.Is(err, boom) {
		t.Fatalf("got %v, want the wrapped internal error", err)
	}
}

func TestSessionToken(t *testing.T) {
	r, body := stsRequest()
	r.Header.Set("X-Amz-Security-Token", "session-token")
	sign(t, r, body, testSecret, testAKID, "us-east-1", "sts", testTime, "content-type;host;x-amz-date;x-amz-security-token")
	v := testVerifier(testTime)
	v.Keys = fakeKeys{testAKID: {AccessKeyID: testAKID, Secret: NewSecret(testSecret), SessionToken: "session-token"}}
	res, err := v.Verify(r, body)
	if err != nil || !res.HasSessionToken {
		t.Fatalf("%+v %v", res, err)
	}
	r.Header.Del("X-Amz-Security-Token")
	_, err = v.Verify(r, body)
	wantCode(t, err, CodeInvalidClientTokenID)
}

// tokenKeys knows no key by id: it finds credentials in the token alone,
// as a store of sealed session tokens does.
type tokenKeys struct{ err error }

var _ TokenKeyStore = tokenKeys{}

func (tokenKeys) Lookup(context.Context, string) (Credentials, error) {
	return Credentials{}, ErrUnknownKey
}

func (k tokenKeys) LookupToken(_ context.Context, id, token string) (Credentials, error) {
	if k.err != nil {
		return Credentials{}, k.err
	}
	if token != "token-of-"+id {
		return Credentials{}, ErrUnknownKey
	}
	return Credentials{AccessKeyID: id, Secret: NewSecret(testSecret), SessionToken: token}, nil
}

func TestTokenKeyStore(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		keys        tokenKeys
		code        string
	}{
		{name: "resolved from the token", token: "token-of-" + testAKID},
		{name: "no token", code: CodeInvalidClientTokenID},
		{name: "another key's token", token: "token-of-ASIAOTHER", code: CodeInvalidClientTokenID},
		{name: "expired", token: "token-of-" + testAKID, keys: tokenKeys{ErrExpiredToken}, code: CodeExpiredToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, body := stsRequest()
			signed := "content-type;host;x-amz-date"
			if tc.token != "" {
				r.Header.Set("X-Amz-Security-Token", tc.token)
				signed += ";x-amz-security-token"
			}
			sign(t, r, body, testSecret, testAKID, "us-east-1", "sts", testTime, signed)
			v := testVerifier(testTime)
			v.Keys = tc.keys
			res, err := v.Verify(r, body)
			if tc.code == "" {
				if err != nil || !res.HasSessionToken {
					t.Fatalf("%+v %v", res, err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestUnsignedPayloadAllowed(t *testing.T) {
	r, _ := stsRequest()
	r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	sign(t, r, nil, testSecret, testAKID, "us-east-1", "s3", testTime, "host;x-amz-content-sha256;x-amz-date")
	v := testVerifier(testTime)
	v.AllowUnsignedPayload = true
	if _, err := v.Verify(r, []byte("anything")); err != nil {
		t.Fatal(err)
	}
}

func TestDateHeader(t *testing.T) {
	r, body := stsRequest()
	r.Header.Set("Date", testTime.Format(http.TimeFormat))
	sign(t, r, body, testSecret, testAKID, "us-east-1", "sts", testTime, "content-type;date;host")
	r.Header.Del("X-Amz-Date")
	if _, err := testVerifier(testTime).Verify(r, body); err != nil {
		t.Fatal(err)
	}
}

func TestPresignLimits(t *testing.T) {
	for _, tt := range []struct{ expires, code string }{
		{"604801", CodeIncompleteSignature},
		{"x", CodeIncompleteSignature},
		{"-1", CodeIncompleteSignature},
	} {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + testAKID + "%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=" + tt.expires + "&X-Amz-SignedHeaders=host&X-Amz-Signature=00"}, Host: "h", Header: http.Header{}}
		_, err := testVerifier(testTime).Verify(r, nil)
		wantCode(t, err, tt.code)
	}
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"}, Host: "h", Header: http.Header{}}
	_, err := testVerifier(testTime).Verify(r, nil)
	e := wantCode(t, err, CodeIncompleteSignature)
	if !strings.Contains(e.Message, "AWS query-string parameters must include 'X-Amz-Credential'.") {
		t.Error(e.Message)
	}
}

func TestSecretRedacted(t *testing.T) {
	c := Credentials{AccessKeyID: testAKID, Secret: NewSecret(testSecret)}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("creds", "secret", c.Secret, "creds", c)
	j, _ := json.Marshal(c)
	for _, out := range []string{
		fmt.Sprint(c.Secret), fmt.Sprintf("%v %+v %#v %s %q %x %X", c, c, c, c.Secret, c.Secret, c.Secret, c.Secret),
		fmt.Sprintf("%#v", c.Secret), buf.String(), string(j),
	} {
		if strings.Contains(out, testSecret) || strings.Contains(out, hex.EncodeToString([]byte(testSecret))) {
			t.Errorf("secret printed: %s", out)
		}
	}
	if c.Secret.Reveal() != testSecret {
		t.Error("Reveal")
	}
}

func TestErrorBodies(t *testing.T) {
	e := errInvalidToken()
	if got, want := string(e.XML("req-1")), `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`; got != want {
		t.Errorf("XML:\n%s\nwant\n%s", got, want)
	}
	if got, want := string(e.JSON("req-1")), `{"__type":"InvalidClientTokenId","message":"The security token included in the request is invalid."}`; got != want {
		t.Errorf("JSON: %s", got)
	}
	if e.HTTPStatus != http.StatusForbidden || errIncomplete("x").HTTPStatus != http.StatusBadRequest {
		t.Error("status")
	}
}

func TestCacheBounded(t *testing.T) {
	v := testVerifier(testTime)
	v.CacheSize = 8
	for i := range 100 {
		akid := "AKID" + strconv.Itoa(i)
		v.Keys.(fakeKeys)[akid] = Credentials{AccessKeyID: akid, Secret: NewSecret(testSecret)}
		r, body := stsRequest()
		sign(t, r, body, testSecret, akid, "us-east-1", "sts", testTime, "content-type;host;x-amz-date")
		if _, err := v.Verify(r, body); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.keyCache.len(); n > 8 {
		t.Fatalf("cache holds %d entries, bound 8", n)
	}
	// A rotated secret must not reuse the old derived key.
	r, body := signedSTS(t)
	v.Keys.(fakeKeys)[testAKID] = Credentials{AccessKeyID: testAKID, Secret: NewSecret("rotated")}
	_, err := v.Verify(r, body)
	wantCode(t, err, CodeSignatureDoesNotMatch)
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		set, region string
		want        bool
	}{
		{"us-east-1", "us-east-1", true}, {"*", "eu-west-1", true}, {"us-*", "us-west-2", true},
		{"us-*", "eu-west-1", false}, {"eu-west-1,us-*-1", "us-east-1", true}, {"*-1", "us-east-2", false},
		{strings.Repeat("*a", 40), "us-east-1", false},
	} {
		if got := regionSetMatches(tt.set, tt.region); got != tt.want {
			t.Errorf("%q ~ %q = %v", tt.set, tt.region, got)
		}
	}
}

func TestVerifyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation budgets are checked without -race: the race detector allocates")
	}
	r, body := signedSTS(t)
	v := testVerifier(testTime)
	if _, err := v.Verify(r, body); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(200, func() {
		if _, err := v.Verify(r, body); err != nil {
			t.Fatal(err)
		}
	})
	// The Result and its SignedHeaders slice.
	if n > 2 {
		t.Errorf("Verify allocates %v times per call, budget 2", n)
	}
}

// streamBody encodes chunks the way SDKs do, signing each from prev.
func streamBody(key [32]byte, amzDate, scope, seed string, chunks ...[]byte) []byte {
	var out bytes.Buffer
	prev := seed
	for _, c := range append(chunks, nil) {
		sum := sha256.Sum256(c)
		m := hmac.New(sha256.New, key[:])
		io.WriteString(m, "AWS4-HMAC-SHA256-PAYLOAD\n"+amzDate+"\n"+scope+"\n"+prev+"\n"+emptySHA256+"\n"+hex.EncodeToString(sum[:]))
		prev = hex.EncodeToString(m.Sum(nil))
		fmt.Fprintf(&out, "%x;chunk-signature=%s\r\n%s\r\n", len(c), prev, c)
	}
	return out.Bytes()
}

func TestStreaming(t *testing.T) {
	r := &http.Request{Method: "PUT", RequestURI: "/bucket/key", URL: &url.URL{Path: "/bucket/key"}, Host: "s3.ztgate.test",
		Header: http.Header{"X-Amz-Content-Sha256": {StreamingPayload}, "X-Amz-Decoded-Content-Length": {"11"}}}
	sign(t, r, nil, testSecret, testAKID, "us-east-1", "s3", testTime, "host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length")
	v := testVerifier(testTime)
	res, err := v.Verify(r, nil)
	if err != nil || !res.Streaming {
		t.Fatalf("%+v %v", res, err)
	}
	auth := r.Header.Get("Authorization")
	seed := auth[strings.Index(auth, "Signature=")+len("Signature="):]
	key := DeriveSigningKey(NewSecret(testSecret), "20260101", "us-east-1", "s3")
	good := streamBody(key, "20260101T000000Z", "20260101/us-east-1/s3/aws4_request", seed, []byte("hello "), []byte("world"))

	cr, err := res.ChunkReader(bytes.NewReader(good), 11)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(cr)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("%q %v", got, err)
	}

	bad := bytes.Replace(good, []byte("world"), []byte("WORLD"), 1)
	cr, _ = res.ChunkReader(bytes.NewReader(bad), 11)
	got, err = io.ReadAll(cr)
	if !errors.Is(err, ErrChunkSignature) || string(got) != "hello " {
		t.Fatalf("tampered chunk: %q %v", got, err)
	}
	cr, _ = res.ChunkReader(bytes.NewReader(good[:len(good)-10]), 11)
	if _, err := io.ReadAll(cr); err == nil {
		t.Fatal("truncated stream accepted")
	}
	cr, _ = res.ChunkReader(bytes.NewReader(good), 12)
	if _, err := io.ReadAll(cr); err == nil {
		t.Fatal("wrong decoded length accepted")
	}
}
