package audit

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends r's JSON encoding to dst: the very bytes
// json.Marshal(r) makes (TestEncodeMatchesJSON holds it to that), without
// reflection and, but for the free-form maps, without allocating. Every
// record ztgate writes goes through it, on the appender's goroutine, so
// it is written by hand.
func appendRecord(dst []byte, r *Record) ([]byte, error) {
	var err error
	dst = append(dst, `{"eventVersion":`...)
	dst = appendString(dst, r.EventVersion)
	dst = append(dst, `,"userIdentity":`...)
	if dst, err = appendUserIdentity(dst, &r.UserIdentity); err != nil {
		return nil, err
	}
	dst = append(dst, `,"eventTime":`...)
	if dst, err = appendTime(dst, r.EventTime); err != nil {
		return nil, err
	}
	dst = append(dst, `,"eventSource":`...)
	dst = appendString(dst, r.EventSource)
	dst = append(dst, `,"eventName":`...)
	dst = appendString(dst, r.EventName)
	dst = append(dst, `,"awsRegion":`...)
	dst = appendString(dst, r.AWSRegion)
	dst = appendOptString(dst, `,"sourceIPAddress":`, r.SourceIPAddress)
	dst = appendOptString(dst, `,"userAgent":`, r.UserAgent)
	if len(r.RequestParameters) > 0 {
		dst = append(dst, `,"requestParameters":`...)
		if dst, err = appendAny(dst, r.RequestParameters); err != nil {
			return nil, err
		}
	}
	if len(r.ResponseElements) > 0 {
		dst = append(dst, `,"responseElements":`...)
		if dst, err = appendAny(dst, r.ResponseElements); err != nil {
			return nil, err
		}
	}
	dst = appendOptString(dst, `,"errorCode":`, r.ErrorCode)
	dst = appendOptString(dst, `,"errorMessage":`, r.ErrorMessage)
	dst = appendOptString(dst, `,"requestID":`, r.RequestID)
	dst = append(dst, `,"eventID":`...)
	dst = appendString(dst, r.EventID)
	dst = append(dst, `,"readOnly":`...)
	dst = strconv.AppendBool(dst, r.ReadOnly)
	if len(r.Resources) > 0 {
		dst = append(dst, `,"resources":[`...)
		for i := range r.Resources {
			if i > 0 {
				dst = append(dst, ',')
			}
			res := &r.Resources[i]
			dst = append(dst, `{"ARN":`...)
			dst = appendString(dst, res.ARN)
			dst = appendOptString(dst, `,"accountId":`, res.AccountID)
			dst = appendOptString(dst, `,"type":`, res.Type)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"eventType":`...)
	dst = appendString(dst, r.EventType)
	dst = appendOptString(dst, `,"recipientAccountId":`, r.RecipientAccount)
	if t := r.TLSDetails; t != nil {
		dst = append(dst, `,"tlsDetails":{`...)
		n := len(dst)
		dst = appendOptString(dst, `,"tlsVersion":`, t.TLSVersion)
		dst = appendOptString(dst, `,"cipherSuite":`, t.CipherSuite)
		dst = appendOptString(dst, `,"clientProvidedHostHeader":`, t.ClientProvidedHostHeader)
		dst = closeObject(dst, n)
	}
	if z := r.ZTGate; z != nil {
		dst = append(dst, `,"ztgate":`...)
		dst = appendZTGate(dst, z)
	}
	return append(dst, '}'), nil
}

// closeObject closes an object whose members were appended from n, each
// with a leading comma: the first comma goes.
func closeObject(dst []byte, n int) []byte {
	if len(dst) > n {
		copy(dst[n:], dst[n+1:])
		dst = dst[:len(dst)-1]
	}
	return append(dst, '}')
}

func appendUserIdentity(dst []byte, u *UserIdentity) ([]byte, error) {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, u.Type)
	dst = appendOptString(dst, `,"principalId":`, u.PrincipalID)
	dst = appendOptString(dst, `,"arn":`, u.ARN)
	dst = appendOptString(dst, `,"accountId":`, u.AccountID)
	dst = appendOptString(dst, `,"accessKeyId":`, u.AccessKeyID)
	dst = appendOptString(dst, `,"userName":`, u.UserName)
	if s := u.SessionContext; s != nil {
		dst = append(dst, `,"sessionContext":{`...)
		if i := s.SessionIssuer; i != nil {
			dst = append(dst, `"sessionIssuer":{"type":`...)
			dst = appendString(dst, i.Type)
			dst = appendOptString(dst, `,"principalId":`, i.PrincipalID)
			dst = appendOptString(dst, `,"arn":`, i.ARN)
			dst = appendOptString(dst, `,"accountId":`, i.AccountID)
			dst = appendOptString(dst, `,"userName":`, i.UserName)
			dst = append(dst, "},"...)
		}
		dst = append(dst, `"attributes":{"creationDate":`...)
		var err error
		if dst, err = appendTime(dst, s.Attributes.CreationDate); err != nil {
			return nil, err
		}
		dst = append(dst, `,"mfaAuthenticated":`...)
		dst = strconv.AppendBool(dst, s.Attributes.MFAAuthenticated)
		dst = append(dst, '}')
		dst = appendOptString(dst, `,"sourceIdentity":`, s.SourceIdentity)
		dst = append(dst, '}')
	}
	dst = appendOptString(dst, `,"invokedBy":`, u.InvokedBy)
	return append(dst, '}'), nil
}

func appendZTGate(dst []byte, z *ZTGate) []byte {
	dst = append(dst, '{')
	n := len(dst)
	dst = appendOptString(dst, `,"decision":`, z.Decision)
	dst = appendOptString(dst, `,"blockedBy":`, z.BlockedBy)
	if len(z.Matched) > 0 {
		dst = append(dst, `,"matchedStatements":[`...)
		for i := range z.Matched {
			if i > 0 {
				dst = append(dst, ',')
			}
			s := &z.Matched[i]
			dst = append(dst, `{"policy":`...)
			dst = appendString(dst, s.Policy)
			dst = appendOptString(dst, `,"sid":`, s.Sid)
			dst = append(dst, `,"index":`...)
			dst = strconv.AppendInt(dst, int64(s.Index), 10)
			dst = append(dst, `,"effect":`...)
			dst = appendString(dst, s.Effect)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if z.ReportOnly {
		dst = append(dst, `,"reportOnly":true`...)
	}
	dst = appendOptString(dst, `,"action":`, z.Action)
	dst = appendOptString(dst, `,"route":`, z.Route)
	if d := z.Device; d != nil {
		dst = append(dst, `,"device":{"id":`...)
		dst = appendString(dst, d.ID)
		dst = append(dst, `,"managed":`...)
		dst = strconv.AppendBool(dst, d.Managed)
		dst = append(dst, `,"compliant":`...)
		dst = strconv.AppendBool(dst, d.Compliant)
		dst = appendOptString(dst, `,"platform":`, d.Platform)
		dst = append(dst, '}')
	}
	if r := z.Risk; r != nil {
		dst = append(dst, `,"risk":{"score":`...)
		dst = strconv.AppendInt(dst, int64(r.Score), 10)
		dst = append(dst, `,"level":`...)
		dst = appendString(dst, r.Level)
		dst = append(dst, '}')
	}
	dst = appendOptString(dst, `,"authMethod":`, z.AuthMethod)
	dst = appendOptString(dst, `,"node":`, z.Node)
	dst = append(dst, `,"category":`...)
	dst = appendString(dst, z.Category)
	return closeObject(dst, n)
}

func appendOptString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, key...)
	return appendString(dst, s)
}

// errTime is encoding/json's complaint about a time it cannot encode.
var errTime = errors.New("audit: a time's year is outside 0 to 9999")

// appendTime encodes a time as time.Time's MarshalJSON does.
func appendTime(dst []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, errTime
	}
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), nil
}

// appendAny encodes a free-form value as json.Marshal does: the types
// requestParameters and responseElements are made of (strings, booleans,
// integers, maps with string keys, slices) by hand, keys sorted as
// encoding/json sorts them; anything else, floats among them, with
// encoding/json itself (TestAppendAny, FuzzAppendAny).
func appendAny(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, v), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case map[string]any:
		return appendObject(dst, v, appendAny)
	case map[string]string:
		return appendObject(dst, v, appendStringValue)
	case []any:
		return appendArray(dst, v, appendAny)
	case []string:
		return appendArray(dst, v, appendStringValue)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

func appendStringValue(dst []byte, s string) ([]byte, error) { return appendString(dst, s), nil }

// appendObject encodes a map as encoding/json does: null when nil, keys
// sorted.
func appendObject[V any](dst []byte, m map[string]V, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	var buf [16]string
	var err error
	dst = append(dst, '{')
	for i, k := range sortedKeys(buf[:0], m) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(appendString(dst, k), ':')
		if dst, err = value(dst, m[k]); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// appendArray encodes a slice as encoding/json does: null when nil.
func appendArray[V any](dst []byte, l []V, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	if l == nil {
		return append(dst, "null"...), nil
	}
	var err error
	dst = append(dst, '[')
	for i, e := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = value(dst, e); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

// sortedKeys appends m's keys to dst, sorted.
func sortedKeys[V any](dst []string, m map[string]V) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the bytes a JSON string holds as they are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it: quotes, backslashes and control characters; '<', '>' and
// '&' as \u003c, \u003e, \u0026; U+2028 and U+2029; and each byte of
// invalid UTF-8 as \ufffd.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if plainASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
