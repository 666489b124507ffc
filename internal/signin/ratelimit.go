package signin

import (
	"net/http"
	"time"

	"github.com/ztgate/ztgate/internal/peer"
)

// Failed sign-ins allowed per window: per user name (whether or not the
// user exists, so that the limit tells nothing) and per client address.
// The counts are per node.
const (
	userFailures   = 10
	clientFailures = 50
	failureWindow  = 15 * time.Minute
)

// clientIP is the client's address: the TCP peer, or the client a
// trusted proxy names.
func clientIP(r *http.Request) string { return peer.FromRequest(r).IP() }
