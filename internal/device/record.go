package device

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// Store kinds of the registry's records.
const (
	// KindDevice holds one device record per enrolled device, keyed by
	// its device ID.
	KindDevice = "device"
	// KindToken holds one enrollment token record per token, keyed by the
	// lowercase hex SHA-256 of the token: the token itself is kept
	// nowhere.
	KindToken = "device-token"
	// KindPosture holds each device's last accepted posture report, keyed
	// by its device ID.
	KindPosture = "device-posture"
)

// deviceRecord is a stored device. Revocation is a field, not a deletion:
// the record of who held which certificate stays.
type deviceRecord struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Owner        string    `json:"owner,omitempty"`
	Managed      bool      `json:"managed"`
	Groups       []string  `json:"groups"`
	SPIFFEID     string    `json:"spiffe_id"`
	EnrolledAt   time.Time `json:"enrolled_at"`
	EnrolledBy   string    `json:"enrolled_by"`   // the administrator who created the token
	EnrolledFrom string    `json:"enrolled_from"` // the address the enrollment came from
	Enrollment   string    `json:"enrollment"`    // the token's public id
	// Certificates are in the order issued: the last that is not
	// withdrawn is the current one, the only one that may renew.
	Certificates []certRecord `json:"certificates"`
	// LastRenewal is the signing time (iat) of the last renewal accepted:
	// one signed at or before it is a replay.
	LastRenewal time.Time   `json:"last_renewal,omitzero"`
	Revoked     *revocation `json:"revoked,omitempty"`
}

// certRecord is one certificate issued to a device: the chain it verifies
// with (leaf first, without the root), kept so that a report naming the
// device by kid needs no chain of its own. The chain of a certificate
// found expired at a renewal is dropped; its serial stays, as the record
// of what the device held.
type certRecord struct {
	Serial   string    `json:"serial"` // lowercase hex, as pki keys it
	NotAfter time.Time `json:"not_after"`
	Chain    [][]byte  `json:"chain,omitempty"`
	// Withdrawn is when the certificate was revoked because its renewal
	// could not be audited: it was never delivered, and is not current.
	Withdrawn time.Time `json:"withdrawn,omitzero"`
}

type revocation struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
}

// tokenRecord is a stored enrollment token, without the token.
type tokenRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner,omitempty"`
	Managed   bool      `json:"managed"`
	Groups    []string  `json:"groups"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	DeviceID  string    `json:"device_id,omitempty"`
}

// postureRecord is a device's last accepted report.
type postureRecord struct {
	DeviceID   string    `json:"device_id"`
	Report     Report    `json:"report"`
	SignedAt   time.Time `json:"signed_at"` // the report's iat
	ReceivedAt time.Time `json:"received_at"`
	Serial     string    `json:"serial"` // of the certificate that signed it
}

func decode(rec store.Record, v any) error {
	if err := json.Unmarshal(rec.Value, v); err != nil {
		return fmt.Errorf("device: record %s/%s is not valid json", rec.Kind, rec.Key)
	}
	return nil
}

func decodeDevice(rec store.Record) (*deviceRecord, error) {
	d := new(deviceRecord)
	if err := decode(rec, d); err != nil {
		return nil, err
	}
	if d.ID != rec.Key || !ValidID(d.ID) {
		return nil, fmt.Errorf("device: record %s/%s names device %s", rec.Kind, rec.Key, quote(d.ID))
	}
	if d.Groups == nil {
		d.Groups = []string{}
	}
	return d, nil
}

func decodePosture(rec store.Record) (*postureRecord, error) {
	p := new(postureRecord)
	if err := decode(rec, p); err != nil {
		return nil, err
	}
	if p.DeviceID != rec.Key || p.SignedAt.IsZero() {
		return nil, fmt.Errorf("device: record %s/%s is not a posture report of that device", rec.Kind, rec.Key)
	}
	return p, nil
}

// hasSerial reports whether serial is one of the device's certificates,
// and not one withdrawn.
func (d *deviceRecord) hasSerial(serial string) bool {
	return slices.ContainsFunc(d.Certificates, func(c certRecord) bool { return c.Serial == serial && c.Withdrawn.IsZero() })
}

// current returns the device's current certificate: the last issued and
// not withdrawn. The last, rather than the one that expires last, so that
// a renewal under a shorter devices.cert_ttl still makes the new one
// current.
func (d *deviceRecord) current() (certRecord, bool) {
	for i := len(d.Certificates) - 1; i >= 0; i-- {
		if c := d.Certificates[i]; c.Withdrawn.IsZero() {
			return c, true
		}
	}
	return certRecord{}, false
}

// currentChain returns the chain of the device's current certificate,
// for a report that names the device by kid.
func (d *deviceRecord) currentChain() ([]*x509.Certificate, error) {
	c, ok := d.current()
	if !ok || len(c.Chain) == 0 {
		return nil, fmt.Errorf("%w: device %s has no current certificate", ErrCertificate, d.ID)
	}
	chain, err := parseChain(c.Chain)
	if err != nil {
		return nil, fmt.Errorf("device: stored certificate %s of %s does not parse", c.Serial, d.ID)
	}
	return chain, nil
}

// Device is a device as the registry holds it.
type Device struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Owner   string   `json:"owner,omitempty"` // a user ARN, or none
	Managed bool     `json:"managed"`
	Groups  []string `json:"groups"`
	// SPIFFEID is the identity in the device's certificates.
	SPIFFEID     string        `json:"spiffe_id"`
	EnrolledAt   time.Time     `json:"enrolled_at"`
	EnrolledBy   string        `json:"enrolled_by"`
	EnrolledFrom string        `json:"enrolled_from,omitempty"`
	Enrollment   string        `json:"enrollment"` // the id of the token used
	Certificates []Certificate `json:"certificates"`
	// LastRenewal is when the last renewal accepted was signed; zero
	// before the first.
	LastRenewal time.Time `json:"last_renewal,omitzero"`
	// Platform is the OS of the last accepted report; empty before one.
	Platform      string    `json:"platform,omitempty"`
	Revoked       bool      `json:"revoked"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	RevokedBy     string    `json:"revoked_by,omitempty"`
	RevokedReason string    `json:"revoked_reason,omitempty"`
	// Posture is the last accepted report, nil before the first.
	Posture *Posture `json:"posture,omitempty"`
}

// Certificate names one certificate issued to a device, in the order
// issued.
type Certificate struct {
	Serial   string    `json:"serial"` // lowercase hex
	NotAfter time.Time `json:"not_after"`
	// Withdrawn: revoked at once because its renewal could not be
	// audited; never delivered.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

// Posture is a device's last accepted posture report.
type Posture struct {
	Report
	SignedAt   time.Time `json:"signed_at"`
	ReceivedAt time.Time `json:"received_at"`
	Serial     string    `json:"serial"` // of the certificate that signed it
}

// view makes the exported Device from the records; p may be nil.
func view(d *deviceRecord, p *postureRecord) Device {
	v := Device{
		ID: d.ID, Name: d.Name, Owner: d.Owner, Managed: d.Managed, Groups: slices.Clone(d.Groups),
		SPIFFEID: d.SPIFFEID, EnrolledAt: d.EnrolledAt, EnrolledBy: d.EnrolledBy, EnrolledFrom: d.EnrolledFrom,
		Enrollment: d.Enrollment, Certificates: make([]Certificate, 0, len(d.Certificates)), LastRenewal: d.LastRenewal,
	}
	for _, c := range d.Certificates {
		v.Certificates = append(v.Certificates, Certificate{Serial: c.Serial, NotAfter: c.NotAfter, Withdrawn: !c.Withdrawn.IsZero()})
	}
	if d.Revoked != nil {
		v.Revoked, v.RevokedAt, v.RevokedBy, v.RevokedReason = true, d.Revoked.At, d.Revoked.By, d.Revoked.Reason
	}
	if p != nil {
		v.Platform = p.Report.OS
		v.Posture = &Posture{Report: p.Report.clone(), SignedAt: p.SignedAt, ReceivedAt: p.ReceivedAt, Serial: p.Serial}
	}
	return v
}
