package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
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
	seed     maphash.Seed
	keyCache *boundedCache[string, *macKey]
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

	// chain is set for a streaming payload only, so that the usual
	// Result stays small.
	chain *chainState
}

// chainState is what chunk verification continues from.
type chainState struct {
	key     [32]byte
	seed    [32]byte
	amzDate string
	scope   string
}

// newResult allocates a Result with SignedHeaders holding the request's
// signed header names. Up to eight share the Result's allocation (with no
// room carried for eight when four will do); more were split onto the
// heap when the request was parsed, and are kept.
func newResult(q *request) *Result {
	if q.moreNames != nil {
		return &Result{SignedHeaders: q.moreNames}
	}
	names := q.names[:q.nnames]
	var res *Result
	var room []string
	if len(names) <= 4 {
		b := new(struct {
			res   Result
			names [4]string
		})
		res, room = &b.res, b.names[:0:len(names)]
	} else {
		b := new(struct {
			res   Result
			names [8]string
		})
		res, room = &b.res, b.names[:0:len(names)]
	}
	res.SignedHeaders = append(room, names...)
	return res
}

// scratch holds the per-request buffers so that verification allocates
// almost nothing in the steady state.
type scratch struct {
	canon []byte
	sts   []byte
	enc   []byte
	pairs []qpair
	// inner and outer resume a macKey's HMAC states.
	inner, outer resumableHash
	sum          [32]byte
	mac          [32]byte

	bodyHex [64]byte
}

// resumableHash is a SHA-256 digest that can be set to a marshaled state.
type resumableHash interface {
	hash.Hash
	encoding.BinaryUnmarshaler
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
		inner: sha256.New().(resumableHash), outer: sha256.New().(resumableHash),
	}
}}

// hmacSHA256 computes HMAC-SHA256 of msg under k by resuming the pooled
// hashers from k's precomputed key blocks (crypto/hmac would allocate a
// pair of hashers per call and hash both key blocks again).
func (s *scratch) hmacSHA256(k *macKey, msg []byte) *[32]byte {
	// The states were marshaled by crypto/sha256 itself; like crypto/hmac,
	// treat a refusal as the broken invariant it would be.
	if err := s.inner.UnmarshalBinary(k.inner); err != nil {
		panic(err)
	}
	s.inner.Write(msg)
	s.inner.Sum(s.sum[:0])
	if err := s.outer.UnmarshalBinary(k.outer); err != nil {
		panic(err)
	}
	s.outer.Write(s.sum[:])
	s.outer.Sum(s.mac[:0])
	return &s.mac
}

func (s *scratch) sha256Hex(dst, b []byte) []byte {
	sum := sha256.Sum256(b)
	return appendHex32(dst, &sum)
}

func (v *Verifier) init() {
	v.once.Do(func() {
		v.seed = maphash.MakeSeed()
		v.keyCache = newBoundedCache[string, *macKey](v.CacheSize)
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
	// known is what the header pass found for headers that are usually
	// signed, so that the canonical headers need not look them up again.
	known     knownValues
	t         time.Time
	token     string
	regionSet string
	expires   time.Duration
	sig       string // hex, as sent
	// auth.signedHeaders split as strings.Split splits it, once for the
	// canonical headers and the Result: the usual few in names[:nnames],
	// more than fit in moreNames. (A slice of names kept here would make
	// every request escape to the heap.)
	names     [8]string
	nnames    int
	moreNames []string
}

// splitSignedHeaders splits auth.signedHeaders into names or moreNames.
func (q *request) splitSignedHeaders() {
	s := q.auth.signedHeaders
	for n := 0; ; n++ {
		if n == len(q.names) {
			q.moreNames = strings.Split(q.auth.signedHeaders, ";")
			return
		}
		name, rest, found := cutByte(s, ';')
		q.names[n] = name
		if !found {
			q.nnames = n + 1
			return
		}
		s = rest
	}
}

// signedNames returns the signed header names as strings.Split would.
func (q *request) signedNames() []string {
	if q.moreNames != nil {
		return q.moreNames
	}
	return q.names[:q.nnames]
}

// canonicalNames returns the signed header names as the canonical request
// lists them: each name before a ';', and what follows the last ';' only
// when it is not empty (a trailing ';' adds no header).
func (q *request) canonicalNames() []string {
	names := q.signedNames()
	if n := len(names); n > 0 && names[n-1] == "" {
		return names[:n-1]
	}
	return names
}

// Verify authenticates r, whose body the caller has already read into body
// (nil for none). With a streaming payload the body is not consulted here:
// read it through Result.ChunkReader. A failure the client may see is an
// *Error; any other error (from the KeyStore) is internal.
func (v *Verifier) Verify(r *http.Request, body []byte) (*Result, error) {
	v.init()
	var hs headerSet
	hs.scan(r.Header)
	var q request
	var e *Error
	if h := first(hs.authorization); h != "" {
		e = q.fromHeaders(r, &hs, h, v.AllowUnsignedSessionToken)
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
	if err != nil {
		switch {
		case errors.Is(err, ErrUnknownKey):
			return nil, errInvalidToken()
		case errors.Is(err, ErrExpiredToken):
			return nil, newError(CodeExpiredToken, "The security token included in the request is expired")
		case errors.Is(err, ErrKeyDisabled):
			// AWS does not tell a deactivated key from an unknown one.
			return nil, errInvalidToken()
		default:
			return nil, fmt.Errorf("sigv4: looking up access key: %w", err)
		}
	}
	if creds.SessionToken != "" || q.token != "" {
		if subtle.ConstantTimeCompare([]byte(creds.SessionToken), []byte(q.token)) != 1 {
			return nil, errInvalidToken()
		}
	}

	// No defer: with this many returns it would not be open-coded.
	s := scratchPool.Get().(*scratch)
	res, e := v.verifySignature(s, r, &q, &creds, first(hs.contentSHA256), body)
	scratchPool.Put(s)
	if e != nil {
		return nil, e
	}
	return res, nil
}

// verifySignature checks the payload hash and the signature of a request
// whose credentials have been found.
// claimed is the X-Amz-Content-Sha256 header.
func (v *Verifier) verifySignature(s *scratch, r *http.Request, q *request, creds *Credentials, claimed string, body []byte) (*Result, *Error) {
	a := &q.auth
	// Payload hash: the header's claim, checked against the body when it
	// is a digest; else the body's own digest. Only the two literal claims
	// leave the body out of the signature, and only they skip hashing it.
	var payload []byte
	streaming := false
	switch {
	case claimed == "":
		payload = s.sha256Hex(s.bodyHex[:0], body)
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
		payload = s.sha256Hex(s.bodyHex[:0], body)
		if claimed != string(payload) {
			return nil, newError(CodeContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	default:
		return nil, errIncomplete("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.")
	}

	// Presigned requests rarely say how their payload was signed: try the
	// body's digest, then the permitted alternatives. Header-signed ones
	// have exactly one reading.
	key, ok, e := v.check(s, r, q, creds, payload, false)
	if e != nil {
		return nil, e
	}
	if !ok && q.presigned {
		for _, alt := range [...]struct {
			payload   []byte
			skipToken bool
		}{
			{unsignedPayload, false},
			{payload, true},
			{unsignedPayload, true},
		} {
			if &alt.payload[0] == &unsignedPayload[0] && (!v.AllowUnsignedPayload || claimed != "") ||
				alt.skipToken && (!v.AllowUnsignedSessionToken || q.token == "") {
				continue
			}
			key, ok, e = v.check(s, r, q, creds, alt.payload, alt.skipToken)
			if e != nil {
				return nil, e
			}
			if ok {
				break
			}
		}
	}
	if !ok {
		return nil, errMismatch()
	}
	// Field by field: copying a whole Result literal into the new one
	// costs a bulk write barrier while the collector runs.
	res := newResult(q)
	res.AccessKeyID = a.accessKeyID
	res.Algorithm = a.algorithm
	res.Region = a.region
	if a.algorithm == AlgorithmV4A {
		res.Region = q.regionSet
	}
	res.Service = a.service
	res.Presigned = q.presigned
	res.HasSessionToken = q.token != ""
	res.Time = q.t
	res.Streaming = streaming
	if streaming {
		c := &chainState{key: key.key, amzDate: q.amzDate, scope: string(a.appendScope(nil))}
		decodeHex32(&c.seed, q.sig) // as check did
		res.chain = c
	}
	return res, nil
}

// check recomputes the canonical request and string to sign for one
// reading of the request and compares signatures. For SigV4 it returns
// the signing key that verified.
func (v *Verifier) check(s *scratch, r *http.Request, q *request, creds *Credentials, payload []byte, skipToken bool) (*macKey, bool, *Error) {
	a := &q.auth
	// The buffers are kept in locals and stored back only when they grew:
	// storing a slice into the pooled scratch costs a write barrier while
	// the collector runs.
	canon, hostSigned := q.appendCanonicalRequest(s, s.canon[:0], r, v.S3Paths, payload, skipToken)
	if cap(canon) > cap(s.canon) {
		s.canon = canon[:0]
	}
	if !hostSigned {
		return nil, false, newError(CodeSignatureDoesNotMatch, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	sts := appendStringToSign(s, s.sts[:0], a, q.amzDate, canon)
	if cap(sts) > cap(s.sts) {
		s.sts = sts[:0]
	}

	if a.algorithm == AlgorithmV4A {
		pub := v.publicKey(a.accessKeyID, creds)
		return nil, pub.verify(sts, q.sig), nil
	}
	var want [32]byte
	if len(q.sig) != 64 || !decodeHex32(&want, q.sig) {
		return nil, false, nil
	}
	key := v.signingKey(creds, a)
	got := s.hmacSHA256(key, sts)
	if !equal32(got, &want) {
		return nil, false, nil
	}
	return key, true, nil
}

// signingKey returns the cached derived key for the credential scope and
// the secret as the KeyStore gave it.
func (v *Verifier) signingKey(creds *Credentials, a *authorization) *macKey {
	fp := v.fingerprint(creds.Secret)
	if k, ok := v.keyCache.get(a.credential); ok && k.secret == fp {
		return k
	}
	k := newMACKey(fp, DeriveSigningKey(creds.Secret, a.date, a.region, a.service))
	// Clone: the credential points into the request, which the cache must
	// not keep alive.
	v.keyCache.put(strings.Clone(a.credential), k)
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
	dst, hostSigned := appendCanonicalHeaders(dst, r, q.canonicalNames(), &q.known)
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

// equal32 reports whether a and b are equal in time independent of their
// contents, as subtle.ConstantTimeCompare does, a word rather than a byte
// at a time: every difference is folded into one word with no branch, and
// only the final answer is tested.
func equal32(a, b *[32]byte) bool {
	var d uint64
	for i := 0; i < 32; i += 8 {
		d |= binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
	}
	return d == 0
}

// headerSet holds the headers Verify reads whatever the request signs,
// found in one pass over the header map. Separate lookups cost more: the
// security token, usually absent, must also be sought under every other
// spelling, which takes a pass of its own.
type headerSet struct {
	// What http.Header.Get reads: the values under the canonical key.
	authorization, amzDate, date, contentSHA256 []string
	known                                       knownValues
	// The security token's values as headerValues finds them: under the
	// canonical key if it is present, else under any spelling.
	token                 []string
	tokenKey, tokenFolded bool
}

func (hs *headerSet) scan(h http.Header) {
	var folded []string
	for k, vs := range h {
		switch k {
		case "Authorization":
			hs.authorization = vs
		case "X-Amz-Date":
			hs.amzDate = vs
			hs.known.amzDate, hs.known.amzDateKey = vs, true
		case "Date":
			hs.date = vs
		case "X-Amz-Content-Sha256":
			hs.contentSHA256 = vs
		case "Content-Type":
			hs.known.contentType, hs.known.contentTypeKey = vs, true
		case "X-Amz-Security-Token":
			hs.token, hs.tokenKey = vs, true
		default:
			// As in headerValues: only keys at least as long as the
			// ASCII name can fold to it.
			if !hs.tokenFolded && len(k) >= len("x-amz-security-token") && strings.EqualFold(k, "x-amz-security-token") {
				folded, hs.tokenFolded = vs, true
			}
		}
	}
	if !hs.tokenKey {
		hs.token = folded
	}
}

// first is http.Header.Get's answer from a key's values.
func first(vs []string) string {
	if len(vs) > 0 {
		return vs[0]
	}
	return ""
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
	var hs headerSet
	hs.scan(r.Header)
	return q.fromHeaders(r, &hs, h, allowUnsignedToken)
}

// fromHeaders is fromHeader with the headers already gathered.
func (q *request) fromHeaders(r *http.Request, hs *headerSet, h string, allowUnsignedToken bool) *Error {
	q.amzDate = first(hs.amzDate)
	q.known = hs.known
	date := ""
	if q.amzDate == "" {
		date = first(hs.date)
	}
	if e := q.auth.parse(h, q.amzDate != "" || date != ""); e != nil {
		return e
	}
	a := &q.auth
	q.splitSignedHeaders()
	q.sig = a.signature
	if q.amzDate != "" {
		t, ok := parseAmzDate(q.amzDate)
		if !ok {
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
	if vs := hs.token; len(vs) > 0 {
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
	for _, n := range q.canonicalNames() {
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
	q.splitSignedHeaders()
	t, ok := parseAmzDate(q.amzDate)
	if !ok {
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
