package workload

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors a call can end with. statusOf chooses what the workload sees for
// each; the wrapped detail stays in the agent's log.
var (
	// errNoIdentity: the caller matches no registration entry (or not
	// the one it asked for).
	errNoIdentity = errors.New("no identity issued")
	// errAttestation: the caller's process could not be identified, or
	// is no longer the process that connected.
	errAttestation = errors.New("workload attestation failed")

	errMissingHeader = errors.New("security header missing from request")
	errBadRequest    = errors.New("bad request")
	errNoJWT         = errors.New("the jwt-svid profile is not available")
	errJWTIssue      = errors.New("could not issue jwt-svid")
	errJWTInvalid    = errors.New("invalid jwt-svid")
	errShutdown      = errors.New("workload api is shutting down")
	// errNoSVID: the caller's entries have no unexpired X509-SVID: none
	// could be issued, or the last expired while the node was out of reach.
	errNoSVID = errors.New("no valid x509-svid")
)

// badRequest is an errBadRequest whose message, written here, is safe to
// show the caller.
func badRequest(msg string) error { return fmt.Errorf("%w: %s", errBadRequest, msg) }

// statusOf is the one place that turns an error into what the workload
// sees. Messages are fixed strings (or badRequest's own), never an
// issuer's or the kernel's text.
func statusOf(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errMissingHeader):
		return status.Error(codes.InvalidArgument, "security header missing from request")
	case errors.Is(err, errBadRequest):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errNoIdentity):
		// SPIRE's code and words, which clients already handle.
		return status.Error(codes.PermissionDenied, "no identity issued")
	case errors.Is(err, errAttestation):
		return status.Error(codes.Unauthenticated, "workload attestation failed")
	case errors.Is(err, errNoJWT):
		return status.Error(codes.Unimplemented, "the JWT-SVID profile is not available")
	case errors.Is(err, errJWTInvalid):
		return status.Error(codes.InvalidArgument, "invalid JWT-SVID")
	case errors.Is(err, errJWTIssue):
		return status.Error(codes.Unavailable, "could not issue JWT-SVID")
	case errors.Is(err, errNoSVID):
		return status.Error(codes.Unavailable, "no valid X509-SVID: it could not be issued or renewed; try again later")
	case errors.Is(err, errShutdown):
		return status.Error(codes.Unavailable, "workload api is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	default:
		return status.Error(codes.Internal, "internal error")
	}
}
