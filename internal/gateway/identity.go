package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
)

// Identity is the authenticated caller of one request, as an
// [Authenticator] establishes it. The gateway owns it for the rest of the
// request: it adds its own condition keys to Context.
type Identity struct {
	Principal authz.Principal
	// ARN is the caller's ARN, ID its unique id (AIDA…, AROA…:session),
	// Account the account it belongs to.
	ARN, ID, Account string
	// Method is how the request was authenticated: "sigv4", "jwt",
	// "session", "mtls"; "" for anonymous callers of public routes.
	Method    string
	SessionID string
	Groups    []string
	// AuthTime is when the caller last proved who they are; a route's
	// MaxSessionAge is measured from it. Zero when unknown.
	AuthTime time.Time
	// Context holds the condition keys the authenticator set
	// (aws:MultiFactorAuthPresent, principal tags…); nil for none.
	Context         *authz.Context
	SessionPolicies *authz.Set
	// Audit names the caller in audit records; filled from the fields
	// above when its Type is empty.
	Audit audit.UserIdentity
	// Device describes the caller's device in audit records; nil when
	// unknown.
	Device *audit.Device
}

// ErrNoCredentials is what an [Authenticator] returns for a request that
// carries no credentials of its kind: the next method is tried.
var ErrNoCredentials = errors.New("gateway: no credentials")

// Authenticator authenticates one method. It returns [ErrNoCredentials]
// when the request carries none of its kind, a *[Refusal] for credentials
// that are present but bad (what the client is told; the attempt is
// audited), any other error for a failure of its own (the client gets a
// 500 and the log the error), or an Identity.
//
// The request it is given is the one forwarded: an authenticator that
// reads the body (a SigV4 payload hash) must leave r.Body readable from
// its start, and must not change anything else.
type Authenticator interface {
	Method() string
	Authenticate(r *http.Request, rt *Route) (*Identity, error)
}

// Decider decides one request. The engine behind it is pure: everything
// it needs is in the identity's Context.
type Decider interface {
	Decide(id *Identity, action, resource string) authz.Decision
}

// Asserter signs an identity assertion for the upstream (an ES256 JWT),
// sent in [AssertionHeader].
type Asserter interface {
	Assert(id *Identity, rt *Route) (string, error)
}

// Refusal is what a client is told when its request is not served: a
// status, a public code and a message. It never carries internal text or
// a secret; renderers escape it for the client's format.
type Refusal struct {
	Status        int
	Code, Message string
}

func (r *Refusal) Error() string {
	return "gateway: refused: " + r.Code + ": " + r.Message
}
