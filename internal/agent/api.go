package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// PathPrefix is where the agent API is served, on the node's TLS
// listener. Every endpoint is PathPrefix followed by its name.
const PathPrefix = "/.ztgate/agent/v1/"

// The endpoints of the agent API, after PathPrefix.
const (
	// EndpointJoin: POST, a JoinRequest, unauthenticated but for its
	// token; answers an SVIDResponse with the bundle.
	EndpointJoin = "join"
	// EndpointRenew: POST, a RenewRequest, with the agent's certificate;
	// answers an SVIDResponse with the bundle.
	EndpointRenew = "renew"
	// EndpointEntries: GET, with the agent's certificate; answers an
	// EntriesResponse.
	EndpointEntries = "entries"
	// EndpointSVID: POST, an SVIDRequest, with the agent's certificate;
	// answers an SVIDResponse.
	EndpointSVID = "svid"
	// EndpointBundle: GET, with the agent's certificate; answers the
	// trust bundle in the SPIFFE bundle format.
	EndpointBundle = "bundle"
	// EndpointJWTSVID: POST, a JWTSVIDRequest, with the agent's
	// certificate; answers a JWTSVIDResponse.
	EndpointJWTSVID = "jwtsvid"
)

// MaxRequestBody bounds a request body of the agent API: a CSR may be
// 64 KiB of DER (pki.MaxCSRSize), a third more in PEM, and a little JSON
// around it.
const MaxRequestBody = 96 << 10

// JoinRequest is the body of a join: a one-time token, and a certificate
// request for the agent's new key.
type JoinRequest struct {
	Token  string `json:"token"`
	CSRPEM string `json:"csr_pem"` // PKCS#10 in PEM; its names are ignored
}

// RenewRequest asks for a new agent SVID, for a new key.
type RenewRequest struct {
	CSRPEM string `json:"csr_pem"`
}

// SVIDRequest asks for a workload's X509-SVID under one of the calling
// agent's registration entries.
type SVIDRequest struct {
	EntryID string `json:"entry_id"`
	CSRPEM  string `json:"csr_pem"` // may name the entry's SPIFFE ID as its URI, nothing else
}

// Limits of a JWT-SVID request. Eight audiences of 512 bytes keep a
// token inside what verifiers read (pki.MaxJWTSize), base64 and all,
// unless JSON escaping swells them (a '<' takes six bytes): a token that
// would not fit is refused.
const (
	MaxAudiences   = 8
	MaxAudienceLen = 512
)

// JWTSVIDRequest asks for a workload's JWT-SVID under one of the calling
// agent's registration entries.
type JWTSVIDRequest struct {
	EntryID  string   `json:"entry_id"`
	Audience []string `json:"audience"` // 1 to MaxAudiences values of 1 to MaxAudienceLen bytes
	// TTL is a Go duration of at least a second; the CA's default when
	// empty, and pki.MaxJWTTTL at most (a longer one is cut to it). The
	// entry's TTL is its X509-SVIDs' and does not apply.
	TTL string `json:"ttl,omitempty"`
}

// JWTSVIDResponse is an issued JWT-SVID. The token is a bearer
// credential: the response prints as redacted (fmt, slog).
type JWTSVIDResponse struct {
	Token string `json:"token"` // JWS compact serialisation
}

var (
	_ fmt.Formatter  = JWTSVIDResponse{}
	_ slog.LogValuer = JWTSVIDResponse{}
)

// Format prints the response as redacted, whatever the verb.
func (JWTSVIDResponse) Format(f fmt.State, _ rune) { io.WriteString(f, "[REDACTED jwt-svid]") }

// LogValue makes log/slog print the response as redacted.
func (JWTSVIDResponse) LogValue() slog.Value { return slog.StringValue("[REDACTED jwt-svid]") }

// SVIDResponse is an issued X509-SVID.
type SVIDResponse struct {
	SPIFFEID string    `json:"spiffe_id"`
	ChainPEM string    `json:"chain_pem"` // leaf first, then the intermediates; no root
	Serial   string    `json:"serial"`    // lowercase hex
	NotAfter time.Time `json:"not_after"`
	// Bundle is the trust bundle in the SPIFFE bundle format; join and
	// renew include it, so that the agent never holds an SVID it cannot
	// verify.
	Bundle json.RawMessage `json:"bundle,omitempty"`
}

// EntriesResponse lists the registration entries whose parent is the
// calling agent, in the order of their ids.
type EntriesResponse struct {
	Entries []EntryJSON `json:"entries"`
}

// EntryJSON is a registration entry, on the agent API and the control
// socket.
type EntryJSON struct {
	ID        string    `json:"id"`
	SPIFFEID  string    `json:"spiffe_id"`
	Parent    string    `json:"parent"` // the agent's name
	Selectors []string  `json:"selectors"`
	TTL       string    `json:"ttl,omitempty"` // a Go duration; the CA's default when empty
	Created   time.Time `json:"created,omitzero"`
}
