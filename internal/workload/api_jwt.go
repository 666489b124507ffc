package workload

import (
	"context"
	"errors"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

// FetchJWTSVID signs a JWT-SVID for the audience for each distinct SPIFFE
// ID the caller's entries grant (or only the one it names). They are not
// cached: each call asks the issuer.
func (s *Server) FetchJWTSVID(ctx context.Context, req *workload.JWTSVIDRequest) (*workload.JWTSVIDResponse, error) {
	if s.jwt == nil {
		return nil, statusOf(errNoJWT)
	}
	if len(req.GetAudience()) == 0 {
		return nil, statusOf(badRequest("audience must be specified"))
	}
	for _, a := range req.GetAudience() {
		if a == "" {
			return nil, statusOf(badRequest("audience must not be empty"))
		}
	}
	var want spiffeid.ID
	if req.GetSpiffeId() != "" {
		id, err := spiffeid.FromString(req.GetSpiffeId())
		if err != nil {
			return nil, statusOf(badRequest("spiffe_id is not a valid SPIFFE ID"))
		}
		want = id
	}
	w, err := s.attest(ctx)
	if err != nil {
		return nil, statusOf(err)
	}
	resp := &workload.JWTSVIDResponse{}
	seen := map[spiffeid.ID]bool{}
	for _, e := range s.rot.cur.Load().match(w) {
		if seen[e.spiffeID] || (!want.IsZero() && e.spiffeID != want) {
			continue
		}
		seen[e.spiffeID] = true
		tok, err := s.jwt.IssueJWTSVID(ctx, e.spiffeID.String(), req.GetAudience(), s.cfg.JWTTTL)
		if err != nil {
			s.cfg.Log.Warn("jwt-svid issuance failed", "entry", e.id, "spiffe_id", e.spiffeID.String(), "err", err)
			return nil, statusOf(errors.Join(errJWTIssue, err))
		}
		resp.Svids = append(resp.Svids, &workload.JWTSVID{SpiffeId: e.spiffeID.String(), Svid: tok})
	}
	if len(resp.Svids) == 0 {
		return nil, statusOf(errNoIdentity)
	}
	return resp, nil
}

// FetchJWTBundles streams the JWT authorities to a caller that has an
// identity, and again whenever they change.
func (s *Server) FetchJWTBundles(_ *workload.JWTBundlesRequest, stream grpc.ServerStreamingServer[workload.JWTBundlesResponse]) error {
	if s.jwt == nil {
		return statusOf(errNoJWT)
	}
	ctx := stream.Context()
	w, err := s.attest(ctx)
	if err != nil {
		return statusOf(err)
	}
	var sent *jwtBundles
	for {
		st := s.rot.cur.Load()
		if len(st.match(w)) == 0 {
			return statusOf(errNoIdentity)
		}
		if st.jwtBundles != nil && st.jwtBundles != sent {
			if err := stream.Send(&workload.JWTBundlesResponse{Bundles: st.jwtBundles.byTD}); err != nil {
				return err
			}
			sent = st.jwtBundles
		}
		if err := s.wait(ctx, st); err != nil {
			return statusOf(err)
		}
	}
}

// ValidateJWTSVID checks a JWT-SVID for a caller that has an identity.
func (s *Server) ValidateJWTSVID(ctx context.Context, req *workload.ValidateJWTSVIDRequest) (*workload.ValidateJWTSVIDResponse, error) {
	if s.jwt == nil {
		return nil, statusOf(errNoJWT)
	}
	switch {
	case req.GetAudience() == "":
		return nil, statusOf(badRequest("audience must be specified"))
	case req.GetSvid() == "":
		return nil, statusOf(badRequest("svid must be specified"))
	}
	w, err := s.attest(ctx)
	if err != nil {
		return nil, statusOf(err)
	}
	if len(s.rot.cur.Load().match(w)) == 0 {
		return nil, statusOf(errNoIdentity)
	}
	id, claims, err := s.jwt.ValidateJWTSVID(ctx, req.GetSvid(), req.GetAudience())
	if err != nil {
		// The token is the caller's own input; the reason is logged
		// for the operator, not the token.
		s.cfg.Log.Debug("jwt-svid validation failed", "err", err)
		return nil, statusOf(errors.Join(errJWTInvalid, err))
	}
	st, err := structpb.NewStruct(claims)
	if err != nil {
		return nil, statusOf(err)
	}
	return &workload.ValidateJWTSVIDResponse{SpiffeId: id, Claims: st}, nil
}
