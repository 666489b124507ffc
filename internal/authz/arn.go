package authz

import "strings"

// PrincipalKind classifies who is asking.
type PrincipalKind uint8

// Kinds of principals.
const (
	Anonymous      PrincipalKind = iota // no credentials at all
	AccountRoot                         // arn:…:iam::ACCOUNT:root
	User                                // arn:…:iam::ACCOUNT:user/path/name
	Role                                // arn:…:iam::ACCOUNT:role/path/name
	RoleSession                         // arn:…:sts::ACCOUNT:assumed-role/name/session
	FederatedUser                       // arn:…:sts::ACCOUNT:federated-user/name
	Service                             // a service principal: s3.amazonaws.com
	Workload                            // a SPIFFE ID: spiffe://trust-domain/path
	OtherPrincipal                      // any other ARN
)

// Principal is the parsed identity of a request's caller.
type Principal struct {
	ARN       string // the ARN, service name or SPIFFE ID, as given
	Kind      PrincipalKind
	Partition string
	Account   string
	// Name is the user's, role's or federated user's name (for a session,
	// its role's name); Session is the session name of a role session.
	Name    string
	Session string
	// RoleARN is a role's (or a session's role's) ARN without its path:
	// role names are unique within an account, and resource policies
	// naming the role match it and its sessions.
	RoleARN string
}

// ParsePrincipal parses a caller identity: an IAM or STS ARN (any
// partition, "zt" included), a service principal, a SPIFFE ID, or "" for
// an anonymous caller.
func ParsePrincipal(s string) Principal {
	p := Principal{ARN: s}
	switch {
	case s == "":
		p.Kind = Anonymous
		return p
	case strings.HasPrefix(s, "spiffe://"):
		p.Kind = Workload
		return p
	case !strings.HasPrefix(s, "arn:"):
		p.Kind = Service
		return p
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 {
		p.Kind = OtherPrincipal
		return p
	}
	p.Partition, p.Account = parts[1], parts[4]
	service, res := parts[2], parts[5]
	p.Kind = OtherPrincipal
	switch {
	case service == "iam" && res == "root":
		p.Kind = AccountRoot
	case service == "iam" && strings.HasPrefix(res, "user/"):
		p.Kind, p.Name = User, lastSegment(res)
	case service == "iam" && strings.HasPrefix(res, "role/"):
		p.Kind, p.Name = Role, lastSegment(res)
		p.RoleARN = "arn:" + p.Partition + ":iam::" + p.Account + ":role/" + p.Name
	case service == "sts" && strings.HasPrefix(res, "assumed-role/"):
		rest := strings.TrimPrefix(res, "assumed-role/")
		if name, session, ok := strings.Cut(rest, "/"); ok {
			p.Kind, p.Name, p.Session = RoleSession, name, session
			p.RoleARN = "arn:" + p.Partition + ":iam::" + p.Account + ":role/" + name
		}
	case service == "sts" && strings.HasPrefix(res, "federated-user/"):
		p.Kind, p.Name = FederatedUser, strings.TrimPrefix(res, "federated-user/")
	}
	return p
}

func lastSegment(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// accountOfARN returns the account part of an ARN, or "".
func accountOfARN(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return ""
	}
	n := 0
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			n++
			if n == 4 {
				start = i + 1
			} else if n == 5 {
				return s[start:i]
			}
		}
	}
	return ""
}
