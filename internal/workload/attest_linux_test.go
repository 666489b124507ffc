package workload

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestAttestationFollowsTheConnectingProcess runs the handshake on a
// connection from a child process, and checks that attestation names the
// child, and fails once the child has exited, with and without pidfds.
func TestAttestationFollowsTheConnectingProcess(t *testing.T) {
	for _, mode := range []struct {
		name    string
		noPidfd bool
	}{{"pidfd", false}, {"start time", true}} {
		t.Run(mode.name, func(t *testing.T) {
			path := filepath.Join(shortDir(t), "s.sock")
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()

			cmd := exec.Command(selfPath(t))
			cmd.Env = append(os.Environ(), childEnv+"=connect", "ZTGATE_WORKLOAD_ADDR="+path)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "connected\n" {
				t.Fatalf("child said %q", line)
			}
			raw, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			conn, info, err := peerCredentials{noPidfd: mode.noPidfd}.ServerHandshake(raw)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			p := info.(*peerInfo)
			switch {
			case mode.noPidfd && p.pidfd >= 0:
				t.Fatal("pidfd taken when told not to")
			case !mode.noPidfd && p.pidfd < 0:
				t.Skip("kernel without SO_PEERPIDFD")
			}

			c, err := p.attest()
			if err != nil {
				t.Fatal(err)
			}
			if int(c.pid) != cmd.Process.Pid || c.uid != 0 || c.path != selfPath(t) {
				t.Fatalf("attested %+v, want pid %d uid 0 path %s", c, cmd.Process.Pid, selfPath(t))
			}

			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			// The child is gone and reaped; its pid is free for reuse.
			if c, err := p.attest(); !errors.Is(err, errPeerGone) {
				t.Fatalf("attest after exit: %+v, %v; want errPeerGone", c, err)
			}

			// Pid reuse, simulated: the number now names a live process
			// (this one) that did not connect.
			p.pid = int32(os.Getpid())
			if c, err := p.attest(); !errors.Is(err, errPeerGone) {
				t.Fatalf("attest after pid reuse: %+v, %v; want errPeerGone", c, err)
			}

			conn.Close()
			if _, err := p.attest(); !errors.Is(err, errPeerGone) {
				t.Fatalf("attest after close: %v", err)
			}
		})
	}
}

func TestStartTimeMismatchIsAnotherProcess(t *testing.T) {
	// What pid reuse looks like without a pidfd: same pid, other start.
	p := &peerInfo{pid: int32(os.Getpid()), pidfd: -1}
	start, err := readStartTime(p.pid)
	if err != nil {
		t.Fatal(err)
	}
	p.start = start + 1
	if _, err := p.attest(); !errors.Is(err, errPeerGone) {
		t.Fatalf("attest with another start time: %v, want errPeerGone", err)
	}
	p.start = start
	if c, err := p.attest(); err != nil || c.path != selfPath(t) {
		t.Fatalf("attest with the right start time: %+v, %v", c, err)
	}
}

func TestCallerSelectors(t *testing.T) {
	c := caller{uid: 0, gid: 0, path: "/usr/bin/x"}
	got := c.selectors()
	for _, want := range []string{"unix:uid:0", "unix:gid:0", "unix:user:root", "unix:group:root", "unix:path:/usr/bin/x"} {
		if _, ok := got[want]; !ok {
			t.Errorf("missing %s in %v", want, got)
		}
	}
	// An unknown uid has no name, and an unusable path no selector.
	got = caller{uid: 3999999, gid: 3999999, path: "relative"}.selectors()
	if len(got) != 2 {
		t.Errorf("selectors %v, want only uid and gid", got)
	}
}

// TestOtherUsers runs the real client as other users: each gets the
// identities of its uid, or none.
func TestOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run children as other users")
	}
	// The child runs a copy of the test binary, in a directory other
	// users can reach, so that it can select on its own path.
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "child")
	copyFile(t, selfPath(t), bin)

	clock := newFakeClock()
	h := startServerIn(t, dir, newTestCA(t, clock), clock, []Entry{
		{ID: "root", SPIFFEID: "spiffe://example.org/root", Selectors: []string{"unix:uid:0"}},
		{ID: "svc", SPIFFEID: "spiffe://example.org/svc", Selectors: []string{"unix:uid:4242"}},
		{ID: "svc-bin", SPIFFEID: "spiffe://example.org/svc-bin", Selectors: []string{"unix:uid:4242", "unix:path:" + bin}},
		{ID: "svc-other-bin", SPIFFEID: "spiffe://example.org/nope", Selectors: []string{"unix:uid:4242", "unix:path:/usr/bin/env"}},
	})

	run := func(uid int) childResult {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), childEnv+"=fetch", "ZTGATE_WORKLOAD_ADDR=unix://"+h.socket)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		cmd.Stderr = io.Discard
		out, err := cmd.Output()
		if err != nil {
			if errors.Is(err, syscall.EPERM) {
				t.Skipf("cannot run as uid %d: %v", uid, err)
			}
			t.Fatalf("child as %d: %v", uid, err)
		}
		var res childResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("child output %q: %v", out, err)
		}
		return res
	}

	if got := run(4242); got.Code != "" || !slices.Equal(got.IDs, []string{"spiffe://example.org/svc", "spiffe://example.org/svc-bin"}) {
		t.Errorf("uid 4242 got %+v", got)
	}
	if got := run(4243); got.Code != "PermissionDenied" || len(got.IDs) != 0 {
		t.Errorf("uid 4243 got %+v, want PermissionDenied", got)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
