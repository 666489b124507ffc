package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Payload hash values with a meaning of their own.
const (
	UnsignedPayload  = "UNSIGNED-PAYLOAD"
	StreamingPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

	amzDateFormat = "20060102T150405Z"
	maxPresign    = 7 * 24 * time.Hour
)

// Verifier authenticates SigV4 and SigV4a requests. Set its fields before
// first use and do not copy it afterwards; it is safe for concurrent use.
type Verifier struct {
	// Keys finds the secret for an access key id.
	Keys KeyStore
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
	// MaxSkew is how far a header-signed request's time may be from now,
	// and how far in the future a presigned one may start; 0 means 5m.
	MaxSkew time.Duration
	// Region, when set, is the only region a SigV4 credential scope may
	// name, and must be matched by a SigV4a region set.
	Region string
	// Service, when set, is the only service a credential scope may name.
	Service string
	// S3Paths computes the canonical URI as S3 does: no path
	// normalisation and no double encoding.
	S3Paths bool
	// AllowUnsignedPayload accepts "x-amz-content-sha256: UNSIGNED-PAYLOAD"
	// (and presigned requests whose payload was not signed).
	AllowUnsignedPayload bool
	// AllowUnsignedSessionToken accepts a session token that was added
	// after signing rather than signed, as some older clients do. The token
	// must still match the credentials.
	AllowUnsignedSessionToken bool
	// CacheSize bounds each derived-key cache; 0 means 1024 entries.
	CacheSize int

	once     sync.Once
	keyCache *boundedCache[signingKeyID, [32]byte]
	pubCache *boundedCache[publicKeyID, *publicKey]
}

// Result describes an authenticated request.
type Result struct {
	AccessKeyID string
	Algorithm   string
	// Region is the credential scope's region (SigV4) or the signed region
	// set (SigV4a).
	Region        string
	Service       string
	SignedHeaders []string
	Presigned     bool
	// HasSessionToken reports that the request presented a session token
	// (which matched the credentials).
	HasSessionToken bool
	// Time is the request's signing time.
	Time time.Time
	// Streaming reports a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, which
	// must be read through ChunkReader.
	Streaming bool

	chain chainState
}

// chainState is what chunk verification continues from.
type chainState struct {
	key       [32]byte
	seed      [32]byte
	amzDate   string
	scope     string
	streaming bool
}

// scratch holds the per-request buffers so that verification allocates
// almost nothing in the steady state.
type scratch struct {
	canon []byte
	sts   []byte
	enc   []byte
	pairs []qpair
	h     hash.Hash
	pad   [64]byte
	sum   [32]byte
	mac   [32]byte

	bodyHex [64]byte
}

// The payload-hash literals as bytes, so the canonical request is built
// without string conversions.
var (
	unsignedPayload  = []byte(UnsignedPayload)
	streamingPayload = []byte(StreamingPayload)
)

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		canon: make([]byte, 0, 512), sts: make([]byte, 0, 256),
		h: sha256.New(),
	}
}}

// hmacSHA256 computes HMAC-SHA256 with a 32-byte key using the pooled
// hasher (crypto/hmac would allocate a pair of hashers per call).
func (s *scratch) hmacSHA256(key *[32]byte, msg []byte) *[32]byte {
	for i := range s.pad {
		s.pad[i] = 0x36
	}
	for i, b := range key {
		s.pad[i] ^= b
	}
	s.h.Reset()
	s.h.Write(s.pad[:])
	s.h.Write(msg)
	inner := s.h.Sum(s.sum[:0])
	for i := range s.pad {
		s.pad[i] = 0x5c
	}
	for i, b := range key {
		s.pad[i] ^= b
	}
	s.h.Reset()
	s.h.Write(s.pad[:])
	s.h.Write(inner)
	s.h.Sum(s.mac[:0])
	return &s.mac
}

func (s *scratch) sha256Hex(dst, b []byte) []byte {
	s.h.Reset()
	s.h.Write(b)
	return hex.AppendEncode(dst, s.h.Sum(s.sum[:0]))
}

func (v *Verifier) init() {
	v.once.Do(func() {
		v.keyCache = newBoundedCache[signingKeyID, [32]byte](v.CacheSize)
		v.pubCache = newBoundedCache[publicKeyID, *publicKey](v.CacheSize)
	})
}

func (v *Verifier) now() time.Time {
	if v.Clock != nil {
		return v.Clock()
	}
	return time.Now()
}

func (v *Verifier) skew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return 5 * time.Minute
}

// request gathers what Verify learned from the request before checking the
// signature.
type request struct {
	auth      authorization
	presigned bool
	amzDate   string
	t         time.Time
	token     string
	regionSet string
	expires   time.Duration
	sig       string // hex, as sent
}

// Verify authenticates r, whose body the caller has already read into body
// (nil for none). With a streaming payload the body is not consulted here:
// read it through Result.ChunkReader. A failure the client may see is an
// *Error; any other error (from the KeyStore) is internal.
func (v *Verifier) Verify(r *http.Request, body []byte) (*Result, error) {
	v.init()
	var q request
	var e *Error
	if h := r.Header.Get("Authorization"); h != "" {
		e = q.fromHeader(r, h, v.AllowUnsignedSessionToken)
	} else if r.URL != nil && hasAuthQuery(r.URL.RawQuery) {
		e = q.fromQuery(r)
	} else {
		e = newError(CodeMissingAuthenticationToken, "Request is missing Authentication Token")
	}
	if e != nil {
		return nil, e
	}
	a := &q.auth
	if q.amzDate[:8] != a.date {
		return nil, newError(CodeSignatureDoesNotMatch, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+a.date+"' != '"+q.amzDate[:8]+"', from '"+q.amzDate+"'.")
	}
	if v.Region != "" && a.algorithm == AlgorithmV4 && a.region != v.Region {
		return nil, newError(CodeSignatureDoesNotMatch, "Credential should be scoped to a valid region. ")
	}
	if v.Service != "" && a.service != v.Service {
		return nil, newError(CodeSignatureDoesNotMatch, "Credential should be scoped to correct service: '"+v.Service+"'. ")
	}
	if e := v.checkTime(&q); e != nil {
		return nil, e
	}
	if a.algorithm == AlgorithmV4A {
		if q.regionSet == "" {
			return nil, errIncomplete("SigV4a requests require a signed X-Amz-Region-Set.")
		}
		if v.Region != "" && !regionSetMatches(q.regionSet, v.Region) {
			return nil, newError(CodeSignatureDoesNotMatch, "Credential should be scoped to a valid region. ")
		}
	}

	var creds Credentials
	var err error
	if tk, ok := v.Keys.(TokenKeyStore); ok && q.token != "" {
		creds, err = tk.LookupToken(r.Context(), a.accessKeyID, q.token)
	} else {
		creds, err = v.Keys.Lookup(r.Context(), a.accessKeyID)
	}
	switch {
	case errors.Is(err, ErrUnknownKey):
		return nil, errInvalidToken()
	case errors.Is(err, ErrExpiredToken):
		return nil, newError(CodeExpiredToken, "The security token included in the request is expired")
	case errors.Is(err, ErrKeyDisabled):
		// AWS does not tell a deactivated key from an unknown one.
		return nil, errInvalidToken()
	case err != nil:
		return nil, fmt.Errorf("sigv4: looking up access key: %w", err)
	}
	if creds.SessionToken != "" || q.token != "" {
		if subtle.ConstantTimeCompare([]byte(creds.SessionToken), []byte(q.token)) != 1 {
			return nil, errInvalidToken()
		}
	}

	// Payload hash: the header's claim, checked against the body when it
	// is a digest; else the body's own digest.
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	bodyHash := s.sha256Hex(s.bodyHex[:0], body)
	payload := bodyHash
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	streaming := false
	switch {
	case claimed == "":
	case claimed == UnsignedPayload:
		if !v.AllowUnsignedPayload {
			return nil, newError(CodeAccessDenied, "Unsigned payloads are not accepted.")
		}
		payload = unsignedPayload
	case claimed == StreamingPayload:
		if a.algorithm != AlgorithmV4 {
			return nil, errIncomplete("Streaming payloads require AWS4-HMAC-SHA256.")
		}
		payload, streaming = streamingPayload, true
	case len(claimed) == 64 && isLowerHex(claimed):
		if claimed != string(bodyHash) {
			return nil, newError(CodeContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	default:
		return nil, errIncomplete("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.")
	}

	// Presigned requests rarely say how their payload was signed: try the
	// body's digest, then the permitted alternatives. Header-signed ones
	// have exactly one reading.
	var ok bool
	var chain chainState
	tried := false
	for _, alt := range [...]struct {
		payload   []byte
		skipToken bool
	}{
		{payload, false},
		{unsignedPayload, false},
		{payload, true},
		{unsignedPayload, true},
	} {
		if tried && (!q.presigned ||
			&alt.payload[0] == &unsignedPayload[0] && (!v.AllowUnsignedPayload || claimed != "") ||
			alt.skipToken && (!v.AllowUnsignedSessionToken || q.token == "")) {
			continue
		}
		tried = true
		ok, chain, e = v.check(s, r, &q, &creds, alt.payload, alt.skipToken)
		if e != nil {
			return nil, e
		}
		if ok {
			break
		}
	}
	if !ok {
		return nil, errMismatch()
	}
	res := &Result{
		AccessKeyID:     a.accessKeyID,
		Algorithm:       a.algorithm,
		Region:          a.region,
		Service:         a.service,
		SignedHeaders:   strings.Split(a.signedHeaders, ";"),
		Presigned:       q.presigned,
		HasSessionToken: q.token != "",
		Time:            q.t,
		Streaming:       streaming,
	}
	if a.algorithm == AlgorithmV4A {
		res.Region = q.regionSet
	}
	if streaming {
		chain.streaming = true
		chain.amzDate = q.amzDate
		chain.scope = string(a.appendScope(nil))
		res.chain = chain
	}
	return res, nil
}

// check recomputes the canonical request and string to sign for one
// reading of the request and compares signatures.
func (v *Verifier) check(s *scratch, r *http.Request, q *request, creds *Credentials, payload []byte, skipToken bool) (bool, chainState, *Error) {
	var chain chainState
	a := &q.auth
	var hostSigned bool
	s.canon, hostSigned = q.appendCanonicalRequest(s, s.canon[:0], r, v.S3Paths, payload, skipToken)
	if !hostSigned {
		return false, chain, newError(CodeSignatureDoesNotMatch, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	s.sts = appendStringToSign(s, s.sts[:0], a, q.amzDate, s.canon)

	if a.algorithm == AlgorithmV4A {
		pub := v.publicKey(a.accessKeyID, creds)
		return pub.verify(s.sts, q.sig), chain, nil
	}
	var want [32]byte
	if len(q.sig) != 64 {
		return false, chain, nil
	}
	if !decodeHex32(&want, q.sig) {
		return false, chain, nil
	}
	key := v.signingKey(creds, a)
	got := s.hmacSHA256(&key, s.sts)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return false, chain, nil
	}
	chain.key, chain.seed = key, want
	return true, chain, nil
}

// signingKey returns the cached derived key for the credential scope.
func (v *Verifier) signingKey(creds *Credentials, a *authorization) [32]byte {
	id := signingKeyID{
		accessKeyID: a.accessKeyID, date: a.date, region: a.region, service: a.service,
		secret: secretFingerprint(creds.Secret),
	}
	if k, ok := v.keyCache.get(id); ok {
		return k
	}
	k := DeriveSigningKey(creds.Secret, a.date, a.region, a.service)
	// Clone: the id's strings point into the request, which the cache
	// must not keep alive.
	id.accessKeyID = strings.Clone(id.accessKeyID)
	id.date = strings.Clone(id.date)
	id.region = strings.Clone(id.region)
	id.service = strings.Clone(id.service)
	v.keyCache.put(id, k)
	return k
}

// appendCanonicalRequest writes the canonical request and reports whether
// host was among the signed headers.
func (q *request) appendCanonicalRequest(s *scratch, dst []byte, r *http.Request, s3 bool, payload []byte, skipToken bool) ([]byte, bool) {
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	dst = appendCanonicalURI(dst, rawPath(r), s3)
	dst = append(dst, '\n')
	raw := ""
	if r.URL != nil {
		raw = r.URL.RawQuery
	}
	skip1, skip2 := "", ""
	if q.presigned {
		skip1 = "X-Amz-Signature"
		if skipToken {
			skip2 = "X-Amz-Security-Token"
		}
	}
	dst = s.appendCanonicalQuery(dst, raw, skip1, skip2)
	dst = append(dst, '\n')
	dst, hostSigned := appendCanonicalHeaders(dst, r, q.auth.signedHeaders)
	dst = append(dst, '\n')
	dst = append(dst, q.auth.signedHeaders...)
	dst = append(dst, '\n')
	dst = append(dst, payload...)
	return dst, hostSigned
}

func appendStringToSign(s *scratch, dst []byte, a *authorization, amzDate string, canon []byte) []byte {
	dst = append(dst, a.algorithm...)
	dst = append(dst, '\n')
	dst = append(dst, amzDate...)
	dst = append(dst, '\n')
	dst = a.appendScope(dst)
	dst = append(dst, '\n')
	return s.sha256Hex(dst, canon)
}

// decodeHex32 decodes 64 hex digits without the []byte conversion
// hex.Decode would need.
func decodeHex32(dst *[32]byte, s string) bool {
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// fromHeader reads the Authorization-header flavour.
func (q *request) fromHeader(r *http.Request, h string, allowUnsignedToken bool) *Error {
	q.amzDate = r.Header.Get("X-Amz-Date")
	date := r.Header.Get("Date")
	a, e := parseAuthorization(h, q.amzDate != "" || date != "")
	if e != nil {
		return e
	}
	q.auth = a
	q.sig = a.signature
	if q.amzDate != "" {
		t, err := time.Parse(amzDateFormat, q.amzDate)
		if err != nil {
			return errIncomplete("Date must be in ISO-8601 'basic format'. Got '" + clip(q.amzDate) + "'. See http://en.wikipedia.org/wiki/ISO_8601")
		}
		q.t = t
	} else {
		t, err := http.ParseTime(date)
		if err != nil {
			return errIncomplete("Date must be in RFC 1123 format. Got '" + clip(date) + "'.")
		}
		q.t = t.UTC()
		q.amzDate = q.t.Format(amzDateFormat)
	}
	if vs := headerValues(r.Header, "x-amz-security-token"); len(vs) > 0 {
		q.token = vs[0]
		if len(vs) > 1 || !q.signs("x-amz-security-token") && !allowUnsignedToken {
			return errMismatch()
		}
	}
	if a.algorithm == AlgorithmV4A {
		if q.signs("x-amz-region-set") {
			q.regionSet = strings.Join(headerValues(r.Header, "x-amz-region-set"), ",")
		}
	}
	return nil
}

// signs reports whether name is among the signed headers.
func (q *request) signs(name string) bool {
	for rest := q.auth.signedHeaders; rest != ""; {
		var n string
		n, rest, _ = strings.Cut(rest, ";")
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

func hasAuthQuery(raw string) bool {
	return strings.Contains(raw, "X-Amz-Algorithm=") || strings.Contains(raw, "X-Amz-Signature=") ||
		strings.Contains(raw, "X-Amz-Credential=")
}

// fromQuery reads the presigned flavour.
func (q *request) fromQuery(r *http.Request) *Error {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errIncomplete("AWS query-string parameters are malformed. Re-examine the query-string parameters.")
	}
	get := func(k string) (string, *Error) {
		vs := vals[k]
		if len(vs) > 1 {
			return "", errIncomplete("AWS query-string parameter '" + k + "' appears more than once. Re-examine the query-string parameters.")
		}
		if len(vs) == 0 {
			return "", nil
		}
		return vs[0], nil
	}
	var fields [7]string
	names := [...]string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"}
	var missing string
	for i, k := range names {
		v, e := get(k)
		if e != nil {
			return e
		}
		fields[i] = v
		if v == "" && i < 6 {
			missing += "AWS query-string parameters must include '" + k + "'. "
		}
	}
	if missing != "" {
		return errIncomplete(missing + "Re-examine the query-string parameters.")
	}
	q.presigned = true
	a := authorization{algorithm: fields[0], credential: fields[1], signedHeaders: fields[4], signature: fields[5]}
	if a.algorithm != AlgorithmV4 && a.algorithm != AlgorithmV4A {
		return errIncomplete("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\" and \"AWS4-ECDSA-P256-SHA256\"")
	}
	if e := a.parseCredential(); e != nil {
		return e
	}
	q.auth, q.sig, q.amzDate, q.token = a, a.signature, fields[2], fields[6]
	t, err := time.Parse(amzDateFormat, q.amzDate)
	if err != nil {
		return errIncomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	q.t = t
	secs, err := strconv.ParseInt(fields[3], 10, 64)
	if err != nil {
		return errIncomplete("X-Amz-Expires should be a number")
	}
	if secs < 0 {
		return errIncomplete("X-Amz-Expires must be non-negative")
	}
	if time.Duration(secs)*time.Second > maxPresign {
		return errIncomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	q.expires = time.Duration(secs) * time.Second
	if a.algorithm == AlgorithmV4A {
		rs, e := get("X-Amz-Region-Set")
		if e != nil {
			return e
		}
		q.regionSet = rs
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// checkTime enforces clock skew for header-signed requests and the
// validity window for presigned ones, in AWS's words.
func (v *Verifier) checkTime(q *request) *Error {
	now := v.now().UTC()
	skew := v.skew()
	// Only failures need the wording, so build it lazily.
	mins := func() string {
		if skew%time.Minute == 0 {
			return strconv.FormatInt(int64(skew/time.Minute), 10) + " min."
		}
		return skew.String()
	}
	f := func(t time.Time) string { return t.UTC().Format(amzDateFormat) }
	if q.t.After(now.Add(skew)) {
		return newError(CodeSignatureDoesNotMatch, "Signature not yet current: "+f(q.t)+" is still later than "+f(now.Add(skew))+" ("+f(now)+" + "+mins()+")")
	}
	if q.presigned {
		if now.After(q.t.Add(q.expires)) {
			return newError(CodeRequestExpired, "Request has expired.")
		}
		return nil
	}
	if q.t.Before(now.Add(-skew)) {
		return newError(CodeSignatureDoesNotMatch, "Signature expired: "+f(q.t)+" is now earlier than "+f(now.Add(-skew))+" ("+f(now)+" - "+mins()+")")
	}
	return nil
}

// regionSetMatches reports whether any entry of a comma-separated SigV4a
// region set, where '*' matches any run of characters, matches region.
func regionSetMatches(set, region string) bool {
	for rest := set; rest != ""; {
		var pat string
		pat, rest, _ = strings.Cut(rest, ",")
		if glob(strings.TrimSpace(pat), region) {
			return true
		}
	}
	return false
}

// glob matches s against pat, where '*' matches any run of characters. It
// backtracks only to the last star, so hostile patterns stay O(len*len).
func glob(pat, s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			starP, starI = p, i
			p++
		case p < len(pat) && pat[p] == s[i]:
			p++
			i++
		case starP >= 0:
			starI++
			i, p = starI, starP+1
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
