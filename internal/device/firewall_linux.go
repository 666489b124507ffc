package device

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelFirewall reads the running kernel's packet filter.
type kernelFirewall struct{}

var _ firewallProbe = kernelFirewall{}

// Values the x/sys/unix package does not name.
const (
	nlaTypeMask  = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
	nfDrop       = 0      // NF_DROP, a chain's policy
	iptSoGetInfo = 64     // IPT_SO_GET_INFO and IP6T_SO_GET_INFO
	nfInetHooks  = 5      // NF_INET_NUMHOOKS
)

// chainKey names a chain: its family, table and name.
type chainKey struct {
	family       byte
	table, chain string
}

// nftInput dumps the nftables chains and rules over netlink and counts
// the rules of the filter chains hooked at input.
func (kernelFirewall) nftInput() (rules int, drop bool, err error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return 0, false, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, false, fmt.Errorf("netlink bind: %w", err)
	}
	tv := unix.Timeval{Sec: 2}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	input := map[chainKey]bool{}
	err = nftDump(fd, unix.NFT_MSG_GETCHAIN, 1, func(family byte, attrs []byte) {
		var k chainKey
		k.family = family
		hooked, filter, policyDrop := false, false, false
		forAttrs(attrs, func(typ uint16, v []byte) {
			switch typ {
			case unix.NFTA_CHAIN_TABLE:
				k.table = cString(v)
			case unix.NFTA_CHAIN_NAME:
				k.chain = cString(v)
			case unix.NFTA_CHAIN_TYPE:
				filter = cString(v) == "filter"
			case unix.NFTA_CHAIN_POLICY:
				policyDrop = len(v) == 4 && binary.BigEndian.Uint32(v) == nfDrop
			case unix.NFTA_CHAIN_HOOK:
				forAttrs(v, func(t uint16, hv []byte) {
					if t == unix.NFTA_HOOK_HOOKNUM && len(hv) == 4 && binary.BigEndian.Uint32(hv) == unix.NF_INET_LOCAL_IN {
						hooked = true
					}
				})
			}
		})
		switch family {
		case unix.NFPROTO_INET, unix.NFPROTO_IPV4, unix.NFPROTO_IPV6:
		default:
			return
		}
		if hooked && filter {
			input[k] = true
			drop = drop || policyDrop
		}
	})
	if err != nil || len(input) == 0 {
		return 0, drop, err
	}
	err = nftDump(fd, unix.NFT_MSG_GETRULE, 2, func(family byte, attrs []byte) {
		k := chainKey{family: family}
		forAttrs(attrs, func(typ uint16, v []byte) {
			switch typ {
			case unix.NFTA_RULE_TABLE:
				k.table = cString(v)
			case unix.NFTA_RULE_CHAIN:
				k.chain = cString(v)
			}
		})
		if input[k] {
			rules++
		}
	})
	return rules, drop, err
}

// nftDump sends one nftables dump request and calls fn with the family
// and attributes of each object of the answer.
func nftDump(fd int, msg uint16, seq uint32, fn func(family byte, attrs []byte)) error {
	req := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.NFNL_SUBSYS_NFTABLES<<8|msg)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], seq)
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC // nfgenmsg: every family, version 0, res_id 0
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return errors.New("netlink: short error message")
				}
				if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
					return fmt.Errorf("netlink: %w", syscall.Errno(-code))
				}
				return nil
			}
			if len(m.Data) < 4 {
				continue
			}
			fn(m.Data[0], m.Data[4:])
		}
	}
}

// forAttrs calls fn on each netlink attribute of b.
func forAttrs(b []byte, fn func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return
		}
		fn(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[4:l])
		adv := (l + 3) &^ 3
		if adv > len(b) {
			return
		}
		b = b[adv:]
	}
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// iptGetinfo is struct ipt_getinfo (and ip6t_getinfo).
type iptGetinfo struct {
	Name       [32]byte
	ValidHooks uint32
	HookEntry  [nfInetHooks]uint32
	Underflow  [nfInetHooks]uint32
	NumEntries uint32
	Size       uint32
}

// legacyInput asks the legacy iptables for its filter table's layout: the
// INPUT chain's rules lie between its hook entry and its policy (the
// underflow), so the chain has rules exactly when the two differ.
func (kernelFirewall) legacyInput(v6 bool) (int, error) {
	family, level := unix.AF_INET, unix.IPPROTO_IP
	if v6 {
		family, level = unix.AF_INET6, unix.IPPROTO_IPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return 0, fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	var info iptGetinfo
	copy(info.Name[:], "filter")
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), iptSoGetInfo,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("getsockopt: %w", errno)
	}
	if info.ValidHooks&(1<<unix.NF_INET_LOCAL_IN) == 0 {
		return 0, nil
	}
	in, under := info.HookEntry[unix.NF_INET_LOCAL_IN], info.Underflow[unix.NF_INET_LOCAL_IN]
	if under <= in {
		return 0, nil
	}
	return 1, nil // at least one; their number would need the entries themselves
}
