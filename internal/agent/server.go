package agent

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// ServerConfig is what the server side needs from the node.
type ServerConfig struct {
	CA    func() *pki.CA                  // the node's CA; nil while it is not open
	Store func() (store.Store, error)     // the node's store; an error while it is not open
	Audit audit.Recorder                  // every issuance and refusal, every administrative change
	Actor func(*http.Request) audit.Actor // who is on the control socket; control.Actor when nil
	Log   *slog.Logger                    // discarded when nil
	Clock func() time.Time                // join token expiry, records; time.Now when nil

	// AgentTTL is the lifetime of an agent's own X509-SVID: the CA's
	// default when zero. Agents renew at half of it.
	AgentTTL time.Duration
	// MaxTTL caps registration entries' TTLs: give the CA's maximum
	// (ca.max_ttl); pki.DefaultMaxTTL when zero.
	MaxTTL time.Duration
}

// Server is the server side of the agent protocol: the agent API on the
// node's TLS listener and its administration on the control socket.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	clock  func() time.Time
	maxTTL time.Duration
	rand   io.Reader
}

// NewServer checks c and returns the server side.
func NewServer(c ServerConfig) (*Server, error) {
	switch {
	case c.CA == nil:
		return nil, errors.New("agent: server: no CA")
	case c.Store == nil:
		return nil, errors.New("agent: server: no store")
	case c.Audit == nil:
		return nil, errors.New("agent: server: no audit recorder")
	case c.AgentTTL < 0 || c.MaxTTL < 0:
		return nil, errors.New("agent: server: negative duration")
	}
	s := &Server{cfg: c, log: c.Log, clock: c.Clock, maxTTL: c.MaxTTL, rand: rand.Reader}
	if s.cfg.Actor == nil {
		s.cfg.Actor = control.Actor
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.maxTTL == 0 {
		s.maxTTL = pki.DefaultMaxTTL
	}
	return s, nil
}

// endpoint is one call of the agent API.
type endpoint struct {
	method string
	serve  func(*Server, http.ResponseWriter, *http.Request)
}

var endpoints = map[string]endpoint{
	EndpointJoin:    {http.MethodPost, (*Server).join},
	EndpointRenew:   {http.MethodPost, (*Server).renew},
	EndpointEntries: {http.MethodGet, (*Server).entries},
	EndpointSVID:    {http.MethodPost, (*Server).svid},
	EndpointBundle:  {http.MethodGet, (*Server).bundle},
	EndpointJWTSVID: {http.MethodPost, (*Server).jwtsvid},
}

// Handler serves the agent API under PathPrefix (the full path, not
// stripped). It must be served on the TLS listener: a request without
// TLS is refused.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _ := strings.CutPrefix(r.URL.Path, PathPrefix)
		ep, ok := endpoints[name]
		switch {
		case !ok || !strings.HasPrefix(r.URL.Path, PathPrefix):
			writeError(w, &APIError{http.StatusNotFound, CodeNotFound, "no such endpoint of the agent api"})
		case r.Method != ep.method:
			w.Header().Set("Allow", ep.method)
			writeError(w, &APIError{http.StatusMethodNotAllowed, CodeMethodNotAllowed, name + " takes " + ep.method})
		default:
			ep.serve(s, w, r)
		}
	})
}
