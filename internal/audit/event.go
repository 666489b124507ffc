package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Recorder takes audit records. Components depend on it rather than on
// [Writer], so that their tests can pass a [Memory]. A component that gets
// an error from Record must treat the access as unaudited and refuse it:
// ztgate fails closed.
type Recorder interface {
	Record(ctx context.Context, r *Record) error
}

var (
	_ Recorder = (*Writer)(nil)
	_ Recorder = (*Memory)(nil)
)

// Decisions, as the ztgate block's decision field names them.
const (
	Allowed      = "allowed"
	ExplicitDeny = "explicitDeny"
	ImplicitDeny = "implicitDeny"
)

// Event sources of ztgate's components.
const (
	SourceGateway = "gateway.ztgate"
	SourceSTS     = "sts.ztgate"
	SourceIAM     = "iam.ztgate"
	SourcePKI     = "pki.ztgate"
	SourceSignIn  = "signin.ztgate"
	SourceDetect  = "detect.ztgate"
)

// ErrInvalidRecord classifies a record that Append refuses because it
// lacks what every record of its category must say.
var ErrInvalidRecord = errors.New("invalid audit record")

// Actor says who acted and from where, as far as it is known: for an
// authentication failure, only what the caller claimed.
type Actor struct {
	Identity   UserIdentity
	SourceIP   string
	UserAgent  string
	TLS        *TLSDetails
	AuthMethod string  // sigv4, mtls, oidc, passkey, jwt, ...
	Device     *Device // nil when unknown
	Risk       *Risk   // nil when not assessed
	Region     string  // the region a SigV4 request was signed for
}

func (a *Actor) fill(r *Record) {
	r.UserIdentity = a.Identity
	if r.UserIdentity.Type == "" {
		r.UserIdentity.Type = "Unknown"
	}
	r.SourceIPAddress = a.SourceIP
	r.UserAgent = a.UserAgent
	r.TLSDetails = a.TLS
	r.AWSRegion = a.Region
	r.ZTGate.AuthMethod = a.AuthMethod
	r.ZTGate.Device = a.Device
	r.ZTGate.Risk = a.Risk
}

// DecisionEvent is one authorization decision by an enforcement point,
// allowed or denied, with the statements that decided it.
type DecisionEvent struct {
	Actor
	Source     string // SourceGateway, ...
	Name       string // the request's method or API action: "GET", "GetObject"
	RequestID  string
	Action     string     // the action as the policy saw it: "http:GET"
	Resources  []Resource // what the request touched
	Route      string     // the gateway route, if any
	Decision   string     // Allowed, ExplicitDeny or ImplicitDeny
	BlockedBy  string     // the kind of policy that denied, when denied
	Matched    []Statement
	ReportOnly bool // denied by a report-only policy and served anyway
	ReadOnly   bool
	Parameters map[string]any // the request's parameters; secrets are redacted
}

// Record builds the record. A denial carries CloudTrail's AccessDenied
// error code and AWS's wording of the reason.
func (e DecisionEvent) Record() *Record {
	r := &Record{
		EventSource:       e.Source,
		EventName:         e.Name,
		RequestID:         e.RequestID,
		EventType:         EventTypeAPICall,
		ReadOnly:          e.ReadOnly,
		Resources:         slices.Clone(e.Resources),
		RequestParameters: e.Parameters,
		ZTGate: &ZTGate{
			Category:   CategoryDecision,
			Decision:   e.Decision,
			BlockedBy:  e.BlockedBy,
			Matched:    slices.Clone(e.Matched),
			ReportOnly: e.ReportOnly,
			Action:     e.Action,
			Route:      e.Route,
		},
	}
	e.Actor.fill(r)
	if e.Decision != Allowed && !e.ReportOnly {
		r.ErrorCode = "AccessDenied"
		r.ErrorMessage = denyMessage(r.UserIdentity.ARN, e.Action, e.Resources, e.Decision)
	}
	return r
}

func denyMessage(arn, action string, res []Resource, decision string) string {
	if arn == "" {
		arn = "anonymous"
	}
	msg := "User: " + arn + " is not authorized to perform: " + action
	if len(res) > 0 {
		msg += " on resource: " + res[0].ARN
	}
	if decision == ExplicitDeny {
		return msg + " with an explicit deny"
	}
	return msg + " because no policy allows the " + action + " action"
}

// AuthFailureEvent is a failed authentication: a bad signature, an
// unknown or expired credential, a wrong password, a refused certificate.
type AuthFailureEvent struct {
	Actor            // what the caller claimed: an access key id, a user name
	Source    string // SourceGateway, SourceSignIn, ...
	Name      string // "ConsoleLogin", "GET", "AssumeRole", ...
	RequestID string
	// Code and Message say why, as the client was told: AWS's codes where
	// the protocol is AWS's ("SignatureDoesNotMatch", "InvalidClientTokenId",
	// "ExpiredToken"), else ztgate's ("InvalidPassword", "CertificateRejected").
	Code, Message string
	SignIn        bool           // a person signing in (CloudTrail's AwsConsoleSignIn)
	Parameters    map[string]any // secrets are redacted
}

// Record builds the record.
func (e AuthFailureEvent) Record() *Record {
	r := &Record{
		EventSource:       e.Source,
		EventName:         e.Name,
		RequestID:         e.RequestID,
		EventType:         EventTypeAPICall,
		ErrorCode:         e.Code,
		ErrorMessage:      e.Message,
		RequestParameters: e.Parameters,
		ZTGate:            &ZTGate{Category: CategoryAuthFail},
	}
	if e.SignIn {
		r.EventType = EventTypeConsoleIn
		r.ResponseElements = map[string]any{"ConsoleLogin": "Failure"}
	}
	e.Actor.fill(r)
	return r
}

// IssuedEvent is a credential, session or certificate issued: STS
// temporary credentials, a browser session, an X.509 SVID or device
// certificate. Response describes what was issued; its secrets (the
// secret access key, the session token, a private key) are redacted, its
// identifiers (access key id, serial number, expiry) kept.
type IssuedEvent struct {
	Actor
	Source     string // SourceSTS, SourcePKI, SourceSignIn
	Name       string // "AssumeRole", "GetSessionToken", "IssueCertificate", "CreateSession"
	RequestID  string
	Resources  []Resource // the role assumed, the identity certified
	Matched    []Statement
	Parameters map[string]any
	Response   map[string]any
	// Code and Message are set when the issuance was refused or failed:
	// the record's decision is then implicitDeny, nothing issued.
	Code, Message string
}

// Record builds the record.
func (e IssuedEvent) Record() *Record {
	decision := Allowed
	if e.Code != "" {
		decision = ImplicitDeny
	}
	r := &Record{
		EventSource:       e.Source,
		EventName:         e.Name,
		RequestID:         e.RequestID,
		EventType:         EventTypeAPICall,
		Resources:         slices.Clone(e.Resources),
		RequestParameters: e.Parameters,
		ResponseElements:  e.Response,
		ErrorCode:         e.Code,
		ErrorMessage:      e.Message,
		ZTGate:            &ZTGate{Category: CategoryIssued, Decision: decision, Matched: slices.Clone(e.Matched)},
	}
	e.Actor.fill(r)
	return r
}

// AdminEvent is a change to identities, policies or configuration, made
// or refused: CreateUser, PutRolePolicy, DeleteRoute.
type AdminEvent struct {
	Actor
	Source     string // SourceIAM, ...
	Name       string // "CreateUser", "PutRolePolicy", ...
	RequestID  string
	Resources  []Resource
	Matched    []Statement
	Parameters map[string]any
	Response   map[string]any
	// Code and Message are set when the change failed or was refused.
	Code, Message string
}

// Record builds the record.
func (e AdminEvent) Record() *Record {
	decision := Allowed
	if e.Code == "AccessDenied" {
		decision = ImplicitDeny
	}
	r := &Record{
		EventSource:       e.Source,
		EventName:         e.Name,
		RequestID:         e.RequestID,
		EventType:         EventTypeManagement,
		Resources:         slices.Clone(e.Resources),
		RequestParameters: e.Parameters,
		ResponseElements:  e.Response,
		ErrorCode:         e.Code,
		ErrorMessage:      e.Message,
		ZTGate:            &ZTGate{Category: CategoryAdmin, Decision: decision, Matched: slices.Clone(e.Matched)},
	}
	e.Actor.fill(r)
	return r
}

// RevocationEvent is a credential, session, certificate or device taken
// away, by an administrator or by ztgate itself in response to a finding.
type RevocationEvent struct {
	Actor             // who revoked; for ztgate itself, leave Identity empty and set ByService
	Source     string // SourceIAM, SourceDetect, ...
	Name       string // "RevokeSession", "RevokeCertificate", "QuarantineDevice"
	RequestID  string
	Resources  []Resource // what was revoked
	Reason     string     // why, in words: "impossible travel finding f-123"
	ByService  bool       // ztgate revoked on its own (CloudTrail's AwsServiceEvent)
	Parameters map[string]any
}

// Record builds the record.
func (e RevocationEvent) Record() *Record {
	params := e.Parameters
	if e.Reason != "" {
		params = make(map[string]any, len(e.Parameters)+1)
		for k, v := range e.Parameters {
			params[k] = v
		}
		params["reason"] = e.Reason
	}
	r := &Record{
		EventSource:       e.Source,
		EventName:         e.Name,
		RequestID:         e.RequestID,
		EventType:         EventTypeAPICall,
		Resources:         slices.Clone(e.Resources),
		RequestParameters: params,
		ZTGate:            &ZTGate{Category: CategoryRevocation},
	}
	e.Actor.fill(r)
	if e.ByService {
		r.EventType = EventTypeServiceEv
		if e.Identity.Type == "" {
			r.UserIdentity = UserIdentity{Type: "AWSService", InvokedBy: e.Source}
		}
	}
	return r
}

// validate checks what every record must say.
func validate(r *Record) error {
	switch {
	case r == nil:
		return fmt.Errorf("%w: nil", ErrInvalidRecord)
	case r.ZTGate == nil:
		return fmt.Errorf("%w: no ztgate block (category)", ErrInvalidRecord)
	case r.EventSource == "" || r.EventName == "":
		return fmt.Errorf("%w: eventSource and eventName are required", ErrInvalidRecord)
	case r.EventType == "":
		return fmt.Errorf("%w: eventType is required", ErrInvalidRecord)
	case r.UserIdentity.Type == "":
		return fmt.Errorf("%w: userIdentity.type is required", ErrInvalidRecord)
	}
	switch r.ZTGate.Category {
	case CategoryDecision:
		switch r.ZTGate.Decision {
		case Allowed, ExplicitDeny, ImplicitDeny:
		default:
			return fmt.Errorf("%w: decision %q is not %s, %s or %s", ErrInvalidRecord, r.ZTGate.Decision, Allowed, ExplicitDeny, ImplicitDeny)
		}
	case CategoryAuthFail:
		if r.ErrorCode == "" {
			return fmt.Errorf("%w: an authentication failure needs an errorCode", ErrInvalidRecord)
		}
	case CategoryIssued, CategoryAdmin, CategoryRevocation:
	default:
		return fmt.Errorf("%w: unknown category %q", ErrInvalidRecord, r.ZTGate.Category)
	}
	return nil
}

// prepare validates r, fills in what the writer owns (eventVersion,
// eventID, eventTime, awsRegion, the node) and returns the record to
// write: a copy of r with its free-form parameters redacted, sharing the
// rest with r.
func prepare(r *Record, now time.Time, node, region string) (Record, error) {
	if err := validate(r); err != nil {
		return Record{}, err
	}
	r.EventVersion = EventVersion
	if r.EventID == "" {
		r.EventID = newEventID()
	}
	if r.EventTime.IsZero() {
		r.EventTime = now
	}
	r.EventTime = r.EventTime.UTC()
	if r.AWSRegion == "" {
		r.AWSRegion = region
	}
	r.ZTGate.Node = node
	c := *r
	c.RequestParameters = Redact(r.RequestParameters)
	c.ResponseElements = Redact(r.ResponseElements)
	return c, nil
}

// newEventID returns a random (version 4) UUID in its text form.
func newEventID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Memory is a [Recorder] that keeps records in memory, checked, filled in
// and redacted as [Writer.Append] would write them: a fake for the tests
// of components that audit. Its zero value is ready to use.
type Memory struct {
	// Node and Region are what the records are filled in with.
	Node, Region string
	// Clock gives eventTime when a record has none; time.Now when nil.
	Clock func() time.Time
	// Err, when set, is what Record returns, recording nothing: a way to
	// test that a component fails closed when auditing fails.
	Err error

	mu   sync.Mutex
	recs []Record
}

// Record keeps a copy of r, as it would be written.
func (m *Memory) Record(_ context.Context, r *Record) error {
	if m.Err != nil {
		return m.Err
	}
	now := time.Now
	if m.Clock != nil {
		now = m.Clock
	}
	c, err := prepare(r, now(), m.Node, m.Region)
	if err != nil {
		return err
	}
	// Keep what a reader of the log would read: the record as encoded,
	// decoded again, sharing nothing with r.
	b, err := appendRecord(nil, &c)
	if err != nil {
		return err
	}
	var kept Record
	if err := json.Unmarshal(b, &kept); err != nil {
		return err
	}
	m.mu.Lock()
	m.recs = append(m.recs, kept)
	m.mu.Unlock()
	return nil
}

// Records returns the records kept so far, in order.
func (m *Memory) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.recs)
}

// Reset forgets the records kept so far.
func (m *Memory) Reset() {
	m.mu.Lock()
	m.recs = nil
	m.mu.Unlock()
}
