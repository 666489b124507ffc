package audit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DigestVersion is the version of the digest format ztgate writes.
const DigestVersion = 1

// Reasons a segment was closed, as a digest's closeReason says.
const (
	CloseSize     = "size"     // the segment reached its size limit
	CloseAge      = "age"      // the segment reached its age limit
	CloseShutdown = "shutdown" // the writer was closed
	CloseRecovery = "recovery" // the writer found it open after a crash
)

// Digest describes one closed segment and is signed with an audit signing
// key, chained to the digest before it by that digest's signature. The
// fields and their order are the signed payload's; see the package
// documentation. Times are RFC 3339 text in UTC, kept as text so that the
// payload re-encodes to the very bytes that were signed.
type Digest struct {
	DigestVersion     int        `json:"digestVersion"`
	Node              string     `json:"node"`
	Segment           string     `json:"segment"`
	SegmentSHA256     string     `json:"segmentSha256"`
	Size              int64      `json:"size"`
	FirstSeq          uint64     `json:"firstSeq"`
	LastSeq           uint64     `json:"lastSeq"`
	Records           uint64     `json:"records"`
	FirstPrev         string     `json:"firstPrev"`
	LastHash          string     `json:"lastHash"`
	EarliestEventTime string     `json:"earliestEventTime"`
	LatestEventTime   string     `json:"latestEventTime"`
	ClosedAt          string     `json:"closedAt"`
	CloseReason       string     `json:"closeReason"`
	TornTails         []TornTail `json:"tornTails,omitempty"`
	PreviousDigest    string     `json:"previousDigest"`
	PreviousSignature string     `json:"previousSignature"`
	KeyID             string     `json:"keyId"`
	Signature         string     `json:"signature,omitempty"`
}

// TornTail records bytes that recovery cut from the end of a segment: an
// incomplete line left by a crash. The bytes are kept in File, beside the
// segment.
type TornTail struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	File   string `json:"file"`
}

// maxDigestSize bounds what is read of a digest file.
const maxDigestSize = 1 << 20

// payload returns the bytes a digest's signature covers: the digest
// without its signature, as compact JSON in field order.
func (d *Digest) payload() ([]byte, error) {
	c := *d
	c.Signature = ""
	return json.Marshal(&c)
}

// sign sets the key id and signature.
func (d *Digest) sign(k *signingKey) error {
	d.KeyID = k.id
	d.Signature = ""
	p, err := d.payload()
	if err != nil {
		return err
	}
	if d.Signature, err = signPayload(k, p); err != nil {
		return fmt.Errorf("sign digest: %w", err)
	}
	return nil
}

// signPayload signs the SHA-256 of a payload, returning the signature in
// base64: the scheme of digests and retention markers alike.
func signPayload(k *signingKey, p []byte) (string, error) {
	sum := sha256.Sum256(p)
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// errSignature classifies a digest whose signature does not verify.
var errSignature = errors.New("signature does not verify")

// verifySignature checks the signature with pub.
func (d *Digest) verifySignature(pub *ecdsa.PublicKey) error {
	p, err := d.payload()
	if err != nil {
		return err
	}
	return verifyPayload(pub, p, d.Signature)
}

// verifyPayload checks a base64 signature of a payload, made by signPayload.
func verifyPayload(pub *ecdsa.PublicKey, p []byte, signature string) error {
	sig, err := base64.StdEncoding.Strict().DecodeString(signature)
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: signature is not base64", errSignature)
	}
	sum := sha256.Sum256(p)
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return errSignature
	}
	return nil
}

// encode returns the digest file's contents: indented JSON for people,
// the signature last.
func (d *Digest) encode() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseDigest parses a digest file strictly: one JSON object of the
// current version with no unknown fields and well-formed values.
func parseDigest(b []byte) (*Digest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Digest
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("not a digest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a digest: data after the object")
	}
	if d.DigestVersion != DigestVersion {
		return nil, fmt.Errorf("unknown digest version %d", d.DigestVersion)
	}
	for _, h := range []struct{ name, v string }{
		{"segmentSha256", d.SegmentSHA256}, {"firstPrev", d.FirstPrev}, {"lastHash", d.LastHash},
	} {
		if !isHash(h.v) {
			return nil, fmt.Errorf("digest field %s is not a SHA-256 in hex", h.name)
		}
	}
	if d.Records == 0 || d.LastSeq < d.FirstSeq || d.LastSeq-d.FirstSeq+1 != d.Records {
		return nil, fmt.Errorf("digest counts disagree: firstSeq %d, lastSeq %d, records %d", d.FirstSeq, d.LastSeq, d.Records)
	}
	for _, t := range []struct{ name, v string }{
		{"earliestEventTime", d.EarliestEventTime}, {"latestEventTime", d.LatestEventTime}, {"closedAt", d.ClosedAt},
	} {
		if _, err := time.Parse(time.RFC3339Nano, t.v); err != nil {
			return nil, fmt.Errorf("digest field %s is not an RFC 3339 time", t.name)
		}
	}
	if d.Signature == "" {
		return nil, errors.New("digest is not signed")
	}
	// Every string has its one plain spelling, so the payload is the same
	// bytes in any encoder.
	switch {
	case checkNode(d.Node) != nil:
		return nil, fmt.Errorf("digest names an invalid node %q", d.Node)
	case !validName(d.Segment, segmentExt):
		return nil, fmt.Errorf("digest names an invalid segment %q", d.Segment)
	case d.PreviousDigest != "" && !validName(d.PreviousDigest, digestExt):
		return nil, fmt.Errorf("digest names an invalid previous digest %q", d.PreviousDigest)
	case !isKeyID(d.KeyID):
		return nil, fmt.Errorf("digest names an invalid key id %q", d.KeyID)
	case !isBase64(d.Signature) || !isBase64(d.PreviousSignature):
		return nil, errors.New("digest signatures are not base64")
	}
	switch d.CloseReason {
	case CloseSize, CloseAge, CloseShutdown, CloseRecovery:
	default:
		return nil, fmt.Errorf("digest has an unknown closeReason %q", d.CloseReason)
	}
	for _, t := range d.TornTails {
		if seq, off, ok := parseTornName(t.File); !ok || off != t.Offset || t.Length < 0 || segmentName(seq) != d.Segment {
			return nil, fmt.Errorf("digest lists an invalid torn tail %q", t.File)
		}
	}
	return &d, nil
}

func validName(name, ext string) bool {
	_, ok := parseSeqName(name, ext)
	return ok
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil
}

// isHash reports whether s is a SHA-256 in lower-case hex.
func isHash(s string) bool {
	if len(s) != hashHex {
		return false
	}
	for i := 0; i < len(s); i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}

// digestTime formats a time for a digest.
func digestTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// eventTimes parses a digest's time range; parseDigest has checked it.
func (d *Digest) eventTimes() (earliest, latest time.Time) {
	earliest, _ = time.Parse(time.RFC3339Nano, d.EarliestEventTime)
	latest, _ = time.Parse(time.RFC3339Nano, d.LatestEventTime)
	return earliest, latest
}
