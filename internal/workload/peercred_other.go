//go:build !linux

package workload

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
)

// peerCredentials refuses every connection: attestation by peer
// credentials is implemented for Linux only.
type peerCredentials struct {
	noPidfd bool
}

var errUnsupported = errors.New("workload api: peer attestation is implemented for linux only")

func (peerCredentials) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errUnsupported
}

func (peerCredentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errUnsupported
}

func (peerCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "unix-peercred"}
}

func (c peerCredentials) Clone() credentials.TransportCredentials { return c }

func (peerCredentials) OverrideServerName(string) error { return nil }
