package agent

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/pki"
)

// The parsers of request bodies take bytes already read under the size
// limit, so that they are pure functions of their input (and fuzzed as
// such). Every refusal is an *APIError.

var errTooLarge = &APIError{http.StatusRequestEntityTooLarge, CodeTooLarge, "the request body exceeds the limit of 96 KiB"}

// readBody reads a request body of at most MaxRequestBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxRequestBody {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errTooLarge
	case err != nil:
		return nil, &APIError{http.StatusBadRequest, CodeBadRequest, "the request body could not be read"}
	}
	return b, nil
}

// decodeStrict decodes one JSON object into v: unknown members, members
// spelt in another case (which encoding/json would take), members given
// twice (of which it would keep the last) and anything after the object
// are refused, so that a request never means something other than it
// reads.
func decodeStrict(data []byte, v any, what string) error {
	if !exactMembers(data, v) {
		return &APIError{http.StatusBadRequest, CodeBadRequest, "the body is not the JSON of " + what + " (unknown, duplicate or misspelt members)"}
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil || d.More() {
		return &APIError{http.StatusBadRequest, CodeBadRequest, "the body is not the JSON of " + what + " (or has unknown members)"}
	}
	if _, err := d.Token(); err != io.EOF {
		return &APIError{http.StatusBadRequest, CodeBadRequest, "the body has data after the JSON of " + what}
	}
	return nil
}

// parseCSRPEM returns the DER of the one CERTIFICATE REQUEST block of s.
// The CA checks the request itself.
func parseCSRPEM(s string) ([]byte, error) {
	b, rest := pem.Decode([]byte(s))
	switch {
	case b == nil:
		return nil, &APIError{http.StatusBadRequest, CodeBadRequest, "csr_pem holds no PEM block"}
	case b.Type != "CERTIFICATE REQUEST":
		return nil, &APIError{http.StatusBadRequest, CodeBadRequest, "csr_pem holds a " + quote(b.Type) + " block, not a CERTIFICATE REQUEST"}
	case len(b.Bytes) == 0:
		return nil, &APIError{http.StatusBadRequest, CodeBadRequest, "csr_pem's CERTIFICATE REQUEST block is empty"}
	case len(b.Headers) > 0:
		return nil, &APIError{http.StatusBadRequest, CodeBadRequest, "csr_pem has PEM headers"}
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, &APIError{http.StatusBadRequest, CodeBadRequest, "csr_pem has data after its CERTIFICATE REQUEST block"}
	}
	return b.Bytes, nil
}

// parseJoinRequest reads a join. A missing or malformed token gets the
// same refusal as an unknown one.
func parseJoinRequest(data []byte) (token string, csrDER []byte, err error) {
	var req JoinRequest
	if err := decodeStrict(data, &req, "a join request"); err != nil {
		return "", nil, err
	}
	if !wellFormed(req.Token) {
		return "", nil, errTokenRefused
	}
	if csrDER, err = parseCSRPEM(req.CSRPEM); err != nil {
		return "", nil, err
	}
	return req.Token, csrDER, nil
}

// parseRenewRequest reads a renewal.
func parseRenewRequest(data []byte) ([]byte, error) {
	var req RenewRequest
	if err := decodeStrict(data, &req, "a renewal request"); err != nil {
		return nil, err
	}
	return parseCSRPEM(req.CSRPEM)
}

// parseSVIDRequest reads a workload SVID request.
func parseSVIDRequest(data []byte) (entryID string, csrDER []byte, err error) {
	var req SVIDRequest
	if err := decodeStrict(data, &req, "an svid request"); err != nil {
		return "", nil, err
	}
	if err := checkEntryID(req.EntryID); err != nil {
		return "", nil, &APIError{http.StatusBadRequest, CodeBadRequest, "entry_id: " + err.Error()}
	}
	if csrDER, err = parseCSRPEM(req.CSRPEM); err != nil {
		return "", nil, err
	}
	return req.EntryID, csrDER, nil
}

// parseJWTSVIDRequest reads a workload JWT-SVID request. A TTL over
// pki.MaxJWTTTL is cut to it, as an entry's TTL is cut to MaxTTL at
// issuance; zero means the CA's default.
func parseJWTSVIDRequest(data []byte) (entryID string, audience []string, ttl time.Duration, err error) {
	var req JWTSVIDRequest
	if err := decodeStrict(data, &req, "a jwt-svid request"); err != nil {
		return "", nil, 0, err
	}
	if err := checkEntryID(req.EntryID); err != nil {
		return "", nil, 0, &APIError{http.StatusBadRequest, CodeBadRequest, "entry_id: " + err.Error()}
	}
	if err := checkAudience(req.Audience); err != nil {
		return "", nil, 0, &APIError{http.StatusBadRequest, CodeBadRequest, err.Error()}
	}
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d < time.Second {
			return "", nil, 0, &APIError{http.StatusBadRequest, CodeBadRequest, "ttl " + quote(req.TTL) + " is not a duration of at least 1s, such as 5m"}
		}
		ttl = min(d, pki.MaxJWTTTL)
	}
	return req.EntryID, req.Audience, ttl, nil
}

// checkAudience applies the limits of a JWT-SVID's audience. The agent
// applies them too, before it asks, so that a workload's odd request
// costs no call.
func checkAudience(aud []string) error {
	if len(aud) == 0 || len(aud) > MaxAudiences {
		return fmt.Errorf("%w: audience: %d values given; 1 to %d are needed", ErrInvalid, len(aud), MaxAudiences)
	}
	for _, a := range aud {
		if a == "" || len(a) > MaxAudienceLen {
			return fmt.Errorf("%w: audience: each value must have 1 to %d bytes", ErrInvalid, MaxAudienceLen)
		}
	}
	return nil
}

// exactMembers reports whether data is an object whose member names are
// each a JSON name of v's struct fields, spelt exactly, at most once.
func exactMembers(data []byte, v any) bool {
	t := reflect.TypeOf(v).Elem()
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names[name] = false
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for d.More() {
		tok, err := d.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return false
		}
		if seen, known := names[key]; !known || seen {
			return false
		}
		names[key] = true
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return false
		}
	}
	return true
}
