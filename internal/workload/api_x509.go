package workload

import (
	"context"
	"slices"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
)

// FetchX509SVID streams the caller's X509-SVIDs: one for each entry it
// matches, in entry order, so the first is its default. A new message
// follows every renewal, entry change or bundle change that alters what
// the caller gets. A caller that matches no entry, or stops matching any,
// gets PermissionDenied.
func (s *Server) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	ctx := stream.Context()
	w, err := s.attest(ctx)
	if err != nil {
		return statusOf(err)
	}
	var (
		sent       []*x509SVID
		sentBundle *x509Bundle
	)
	for {
		st := s.rot.cur.Load()
		matched := st.match(w)
		if len(matched) == 0 {
			return statusOf(errNoIdentity)
		}
		svids, ready := st.x509SVIDs(matched, s.cfg.Clock.Now())
		if ready && len(svids) == 0 {
			// Never an expired SVID: the workload learns it has none,
			// and asks again.
			return statusOf(errNoSVID)
		}
		if ready && (st.bundle != sentBundle || !slices.Equal(svids, sent)) {
			if err := stream.Send(x509SVIDResponse(svids, st.bundle)); err != nil {
				return err
			}
			sent, sentBundle = svids, st.bundle
		}
		if err := s.wait(ctx, st); err != nil {
			return statusOf(err)
		}
	}
}

// FetchX509Bundles streams the trust bundle to a caller that has an
// identity (as SPIRE does without unauthenticated verifiers), and again
// whenever it changes.
func (s *Server) FetchX509Bundles(_ *workload.X509BundlesRequest, stream grpc.ServerStreamingServer[workload.X509BundlesResponse]) error {
	ctx := stream.Context()
	w, err := s.attest(ctx)
	if err != nil {
		return statusOf(err)
	}
	var sent *x509Bundle
	for {
		st := s.rot.cur.Load()
		if len(st.match(w)) == 0 {
			return statusOf(errNoIdentity)
		}
		if st.bundle != nil && st.bundle != sent {
			err := stream.Send(&workload.X509BundlesResponse{
				Bundles: map[string][]byte{st.bundle.td.IDString(): st.bundle.der},
			})
			if err != nil {
				return err
			}
			sent = st.bundle
		}
		if err := s.wait(ctx, st); err != nil {
			return statusOf(err)
		}
	}
}

func x509SVIDResponse(svids []*x509SVID, b *x509Bundle) *workload.X509SVIDResponse {
	resp := &workload.X509SVIDResponse{Svids: make([]*workload.X509SVID, len(svids))}
	for i, s := range svids {
		resp.Svids[i] = &workload.X509SVID{
			SpiffeId:    s.spiffeID,
			X509Svid:    s.chainDER,
			X509SvidKey: s.keyDER,
			Bundle:      b.der,
		}
	}
	return resp
}

// attest identifies the caller and lists its selectors.
func (s *Server) attest(ctx context.Context) (selectorSet, error) {
	c, err := attestPeer(ctx)
	if err != nil {
		s.cfg.Log.Warn("workload attestation failed", "err", err)
		return nil, err
	}
	sel := c.selectors()
	s.cfg.Log.Debug("workload attested", "pid", c.pid, "uid", c.uid, "gid", c.gid, "path", c.path)
	return sel, nil
}

// wait returns when st has been replaced, the call has ended or the server
// is stopping.
func (s *Server) wait(ctx context.Context, st *state) error {
	select {
	case <-st.changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopping:
		return errShutdown
	}
}
