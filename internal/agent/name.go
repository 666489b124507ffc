package agent

import (
	"fmt"
	"strings"

	"github.com/ztgate/ztgate/internal/pki"
)

// MaxNameLen is the longest agent name.
const MaxNameLen = 63

// agentPath is the SPIFFE ID path under which every agent's identity
// lies: spiffe://TRUST_DOMAIN/ztgate/agent/NAME.
const agentPath = "/ztgate/agent/"

// reservedPaths are the SPIFFE ID paths ztgate issues itself (agents,
// nodes, devices): a registration entry may not name them, or a workload
// could be handed an agent's or a device's identity.
var reservedPaths = []string{"/ztgate", "/device"}

// CheckName reports whether name can name an agent: 1 to 63 bytes of
// lowercase letters, digits, '.', '-' and '_', and not "." or "..". A
// name is a path segment of the agent's SPIFFE ID and part of record
// keys, so nothing else is allowed.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: agent name is empty", ErrInvalid)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: agent name %s is longer than %d bytes", ErrInvalid, quote(name), MaxNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: agent name %s is not allowed", ErrInvalid, quote(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("%w: agent name %s: only lowercase letters, digits, '.', '-' and '_' are allowed", ErrInvalid, quote(name))
		}
	}
	return nil
}

// AgentID returns the SPIFFE ID of the agent name in td.
func AgentID(td pki.TrustDomain, name string) (pki.ID, error) {
	if err := CheckName(name); err != nil {
		return pki.ID{}, err
	}
	return td.NewID(agentPath + name)
}

// agentName returns the name of the agent whose SPIFFE ID is id, or false
// when id is not an agent's.
func agentName(id pki.ID) (string, bool) {
	name, ok := strings.CutPrefix(id.Path(), agentPath)
	if !ok || CheckName(name) != nil {
		return "", false
	}
	return name, true
}

// reserved reports whether a SPIFFE ID path is one ztgate keeps for
// itself.
func reserved(path string) bool {
	for _, p := range reservedPaths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
