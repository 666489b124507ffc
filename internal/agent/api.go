package agent

import (
	"encoding/json"
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
