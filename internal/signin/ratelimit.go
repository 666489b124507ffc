package signin

import (
	"net"
	"net/http"
	"time"
)

// Failed sign-ins allowed per window: per user name (whether or not the
// user exists, so that the limit tells nothing) and per client address.
// The counts are per node.
const (
	userFailures   = 10
	clientFailures = 50
	failureWindow  = 15 * time.Minute
)

// peerIP is the address of the connection's peer.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
