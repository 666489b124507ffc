//go:build linux

package workload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
)

// peerCredentials are the gRPC transport credentials of the Workload API
// socket. They add no cryptography (the transport is a local socket and
// the kernel names its peer); their handshake records who connected.
//
// Transport credentials rather than a net.Listener wrapper: the handshake
// runs once per connection, right after accept, on the raw *net.UnixConn,
// and what it returns as AuthInfo reaches every RPC of that connection
// through peer.FromContext, which is gRPC's own channel for exactly this.
// A listener wrapper would need its own conn type and a lookup from the
// RPC back to it.
//
// SO_PEERCRED gives the pid, uid and gid of the process as they were when
// it called connect(2). The uid and gid are therefore sound. The pid is
// only a number: the process may have exited since and the number been
// reused. Where the kernel has SO_PEERPIDFD (Linux 6.5), the handshake
// also takes a pidfd, which refers to the connecting process itself and
// never to a reuse of its number; attestation checks that the process is
// alive (or an unreaped zombie, whose pid is not yet free) both before and
// after reading /proc/PID/exe, so the path read belongs to the process
// that connected. Elsewhere the handshake records the process's start time
// from /proc/PID/stat and attestation requires the same start time before
// and after the read.
//
// What remains:
//   - Without SO_PEERPIDFD, a pid reused between connect(2) and the
//     handshake (microseconds, while the connection waits in the accept
//     queue) goes unnoticed, as does a reuse by a process that started in
//     the same clock tick (10 ms) as the original.
//   - The path is the binary the connecting process runs when the RPC
//     arrives. A process can connect, hand the socket to a child and then
//     exec(2) a binary an entry trusts: the pid, and so the path, are the
//     parent's while the child speaks. SPIRE's unix attestor has the same
//     limit; entries that matter should also select on uid, which the
//     kernel fixes at connect(2).
//   - A binary replaced or deleted since exec shows as "... (deleted)" and
//     yields no path selector; one overwritten in place keeps its path.
type peerCredentials struct {
	noPidfd bool // behave as on a kernel without SO_PEERPIDFD (tests)
}

var _ credentials.TransportCredentials = peerCredentials{}

func (c peerCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, nil, fmt.Errorf("workload api: %T is not a unix socket connection", conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, nil, fmt.Errorf("workload api: %w", err)
	}
	var (
		cred           *unix.Ucred
		credErr, fdErr error
		pidfd          = -1
	)
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if c.noPidfd {
			fdErr = unix.ENOPROTOOPT
			return
		}
		pidfd, fdErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	}); err != nil {
		return nil, nil, fmt.Errorf("workload api: %w", err)
	}
	if credErr != nil {
		return nil, nil, fmt.Errorf("workload api: SO_PEERCRED: %w", credErr)
	}
	p := &peerInfo{pid: cred.Pid, uid: cred.Uid, gid: cred.Gid, pidfd: -1}
	switch {
	case cred.Pid <= 0:
		// The peer is in a pid namespace that cannot see ours: there is
		// no process to read, only its uid and gid.
		if fdErr == nil {
			unix.Close(pidfd)
		}
	case fdErr == nil:
		p.pidfd = pidfd
	case errors.Is(fdErr, unix.ENOPROTOOPT):
		start, err := readStartTime(cred.Pid)
		if err != nil {
			return nil, nil, fmt.Errorf("workload api: peer %d: %w", cred.Pid, err)
		}
		p.start = start
	default:
		return nil, nil, fmt.Errorf("workload api: SO_PEERPIDFD: %w", fdErr)
	}
	p.CommonAuthInfo = credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}
	return &peerConn{UnixConn: uc, peer: p}, p, nil
}

func (peerCredentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("workload api: peer credentials are server-side only")
}

func (peerCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "unix-peercred"}
}

func (c peerCredentials) Clone() credentials.TransportCredentials { return c }

// OverrideServerName is part of the interface; it does nothing on a
// server.
func (peerCredentials) OverrideServerName(string) error { return nil }

// peerConn closes the peer's pidfd with the connection.
type peerConn struct {
	*net.UnixConn
	peer *peerInfo
}

func (c *peerConn) Close() error {
	c.peer.close()
	return c.UnixConn.Close()
}

// peerInfo is the AuthInfo of one connection.
type peerInfo struct {
	credentials.CommonAuthInfo
	pid      int32
	uid, gid uint32
	start    uint64 // start time in ticks, without a pidfd

	// mu keeps the pidfd from being closed, and its number reused by
	// another connection's, while an attestation uses it.
	mu     sync.RWMutex
	pidfd  int // -1 without one
	closed bool
}

var _ attester = (*peerInfo)(nil)

func (*peerInfo) AuthType() string { return "unix-peercred" }

func (p *peerInfo) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed && p.pidfd >= 0 {
		unix.Close(p.pidfd)
	}
	p.closed = true
}

// attest reads the caller's binary path and checks, before and after,
// that the process is still the one that connected.
func (p *peerInfo) attest() (caller, error) {
	c := caller{pid: p.pid, uid: p.uid, gid: p.gid}
	if p.pid <= 0 {
		return c, nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return caller{}, errPeerGone
	}
	if err := p.same(); err != nil {
		return caller{}, err
	}
	path, err := os.Readlink(procPath(p.pid, "exe"))
	if err := p.same(); err != nil {
		return caller{}, err
	}
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrPermission):
		// An agent without CAP_SYS_PTRACE cannot read other users'
		// exe links: the workload simply has no path selector.
		return c, nil
	case errors.Is(err, fs.ErrNotExist):
		// Alive but without an exe: a zombie.
		return caller{}, errPeerGone
	default:
		return caller{}, fmt.Errorf("read exe of %d: %w", p.pid, err)
	}
	if !strings.HasSuffix(path, " (deleted)") {
		c.path = path
	}
	return c, nil
}

// same reports whether pid still names the process that connected.
func (p *peerInfo) same() error {
	if p.pidfd >= 0 {
		// Signal 0 checks existence only. EPERM means the process
		// exists but the agent may not signal it.
		switch err := unix.PidfdSendSignal(p.pidfd, 0, nil, 0); {
		case err == nil, errors.Is(err, unix.EPERM):
			return nil
		case errors.Is(err, unix.ESRCH):
			return errPeerGone
		default:
			return fmt.Errorf("pidfd of %d: %w", p.pid, err)
		}
	}
	start, err := readStartTime(p.pid)
	if err != nil {
		return err
	}
	if start != p.start {
		return errPeerGone // the pid is another process's now
	}
	return nil
}

func procPath(pid int32, name string) string {
	return "/proc/" + strconv.FormatInt(int64(pid), 10) + "/" + name
}

func readStartTime(pid int32) (uint64, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return 0, errPeerGone
	}
	if err != nil {
		return 0, err
	}
	return parseStartTime(b)
}
