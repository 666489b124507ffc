package workload

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strconv"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// errPeerGone: the process that connected has exited (its pid may now be
// another process's).
var errPeerGone = errors.New("connecting process is gone")

// caller is what attestation learned about the process that connected.
type caller struct {
	pid      int32
	uid, gid uint32
	path     string // "" when it cannot be known safely
}

// attester is the AuthInfo the transport credentials attach to each
// connection.
type attester interface {
	credentials.AuthInfo
	attest() (caller, error)
}

// attestPeer identifies the caller of the RPC whose context is ctx.
func attestPeer(ctx context.Context) (caller, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return caller{}, fmt.Errorf("%w: no peer", errAttestation)
	}
	a, ok := p.AuthInfo.(attester)
	if !ok {
		return caller{}, fmt.Errorf("%w: no peer credentials", errAttestation)
	}
	c, err := a.attest()
	if err != nil {
		return caller{}, fmt.Errorf("%w: %w", errAttestation, err)
	}
	return c, nil
}

// selectors lists the facts entries can select on. The user and group
// names come from the uid and gid, so an entry may name either; a name
// the databases do not know (a container's uid, say) is simply absent.
func (c caller) selectors() selectorSet {
	uid := strconv.FormatUint(uint64(c.uid), 10)
	gid := strconv.FormatUint(uint64(c.gid), 10)
	s := selectorSet{
		Selector{KindUID, uid}.String(): {},
		Selector{KindGID, gid}.String(): {},
	}
	if u, err := user.LookupId(uid); err == nil && checkName(u.Username) == nil {
		s[Selector{KindUser, u.Username}.String()] = struct{}{}
	}
	if g, err := user.LookupGroupId(gid); err == nil && checkName(g.Name) == nil {
		s[Selector{KindGroup, g.Name}.String()] = struct{}{}
	}
	if c.path != "" && checkPath(c.path) == nil {
		s[Selector{KindPath, c.path}.String()] = struct{}{}
	}
	return s
}
