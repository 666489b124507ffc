package audit

import (
	"time"
)

// EventVersion is the CloudTrail record format version ztgate writes.
const EventVersion = "1.09"

// Record is one audit record, shaped as a CloudTrail record so that
// existing tooling reads it, with ztgate's own facts under "ztgate".
// Records never hold secrets: access-key secrets, session tokens,
// passwords, private keys and cookies are never set here, and Redact runs
// over free-form parameters before a record is written.
type Record struct {
	EventVersion      string         `json:"eventVersion"`
	UserIdentity      UserIdentity   `json:"userIdentity"`
	EventTime         time.Time      `json:"eventTime"`
	EventSource       string         `json:"eventSource"` // "gateway.ztgate", "sts.ztgate", "iam.ztgate", "pki.ztgate"
	EventName         string         `json:"eventName"`   // "GET", "AssumeRole", "CreateUser", "IssueCertificate"
	AWSRegion         string         `json:"awsRegion"`
	SourceIPAddress   string         `json:"sourceIPAddress,omitempty"`
	UserAgent         string         `json:"userAgent,omitempty"`
	RequestParameters map[string]any `json:"requestParameters,omitempty"`
	ResponseElements  map[string]any `json:"responseElements,omitempty"`
	ErrorCode         string         `json:"errorCode,omitempty"`
	ErrorMessage      string         `json:"errorMessage,omitempty"`
	RequestID         string         `json:"requestID,omitempty"`
	EventID           string         `json:"eventID"`
	ReadOnly          bool           `json:"readOnly"`
	Resources         []Resource     `json:"resources,omitempty"`
	EventType         string         `json:"eventType"` // EventType* below
	RecipientAccount  string         `json:"recipientAccountId,omitempty"`
	TLSDetails        *TLSDetails    `json:"tlsDetails,omitempty"`
	ZTGate            *ZTGate        `json:"ztgate,omitempty"`
}

// Event types, as CloudTrail names them.
const (
	EventTypeAPICall    = "AwsApiCall"       // a request decided and served
	EventTypeServiceEv  = "AwsServiceEvent"  // something ztgate did on its own (revocation by a detector)
	EventTypeConsoleIn  = "AwsConsoleSignIn" // a person signing in
	EventTypeManagement = "AwsApiCall"
)

// UserIdentity says who acted, as CloudTrail does. AccessKeyID is the
// public identifier only; the secret never appears.
type UserIdentity struct {
	Type           string          `json:"type"` // IAMUser, AssumedRole, Root, FederatedUser, AWSService, Anonymous, Workload
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
}

// SessionContext describes the session a temporary credential belongs to.
type SessionContext struct {
	SessionIssuer  *SessionIssuer   `json:"sessionIssuer,omitempty"`
	Attributes     SessionAttribute `json:"attributes"`
	SourceIdentity string           `json:"sourceIdentity,omitempty"`
}

// SessionIssuer is the role (or user) a session was issued from.
type SessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttribute holds a session's creation time and MFA state.
type SessionAttribute struct {
	CreationDate     time.Time `json:"creationDate"`
	MFAAuthenticated bool      `json:"mfaAuthenticated"`
}

// Resource is one resource a request touched.
type Resource struct {
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type,omitempty"`
}

// TLSDetails describes the client's TLS connection.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion,omitempty"`
	CipherSuite              string `json:"cipherSuite,omitempty"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader,omitempty"`
}

// ZTGate holds what CloudTrail has no field for.
type ZTGate struct {
	Decision   string      `json:"decision,omitempty"` // allowed, explicitDeny, implicitDeny
	BlockedBy  string      `json:"blockedBy,omitempty"`
	Matched    []Statement `json:"matchedStatements,omitempty"`
	ReportOnly bool        `json:"reportOnly,omitempty"` // denied by a policy in report-only mode, served anyway
	Action     string      `json:"action,omitempty"`     // as the policy saw it, "http:GET"
	Route      string      `json:"route,omitempty"`
	Device     *Device     `json:"device,omitempty"`
	Risk       *Risk       `json:"risk,omitempty"`
	AuthMethod string      `json:"authMethod,omitempty"` // sigv4, mtls, oidc, passkey, jwt…
	Node       string      `json:"node,omitempty"`       // the node that wrote the record
	Category   string      `json:"category"`             // Category* below
}

// Categories of records, one per kind of use of privilege.
const (
	CategoryDecision   = "decision"
	CategoryAuthFail   = "authenticationFailure"
	CategoryIssued     = "credentialIssued"
	CategoryAdmin      = "administrativeChange"
	CategoryRevocation = "revocation"
)

// Statement names one deciding policy statement.
type Statement struct {
	Policy string `json:"policy"`
	Sid    string `json:"sid,omitempty"`
	Index  int    `json:"index"`
	Effect string `json:"effect"`
}

// Device is the caller's device, as far as it is known.
type Device struct {
	ID        string `json:"id"`
	Managed   bool   `json:"managed"`
	Compliant bool   `json:"compliant"`
	Platform  string `json:"platform,omitempty"`
}

// Risk is the caller's risk at the time of the request.
type Risk struct {
	Score int    `json:"score"`
	Level string `json:"level"`
}
