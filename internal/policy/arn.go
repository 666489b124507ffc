package policy

import (
	"fmt"
	"strings"
)

// Partitions a resource or principal ARN may name: AWS's, and "zt", ztgate's
// own (arn:zt:iam::111122223333:user/alice). A resource ARN may also give
// "*" for every partition.
var partitions = map[string]bool{
	"aws":        true,
	"aws-cn":     true,
	"aws-us-gov": true,
	"aws-iso":    true,
	"aws-iso-b":  true,
	"zt":         true,
}

// iamPaths are what may follow the account in an iam resource ARN.
var iamPaths = []string{
	"user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
	"server-certificate/", "policy/", "sms-mfa/", "saml-provider/",
	"oidc-provider/", "report/", "access-report/",
}

// resourceProblem checks a Resource or NotResource entry as AWS does,
// returning AWS's message for the first fault. AWS reads the text before the
// first colon as "arn" without looking, and quotes the resource in its
// message as if it had been; both are kept.
func resourceProblem(r string) (msg, detail string) {
	if r == "*" {
		return "", ""
	}
	prefix, rest, ok := strings.Cut(r, ":")
	if !ok {
		return fmt.Sprintf(`Resource %s must be in ARN format or "*".`, r), ""
	}
	partition, rest, hasVendor := strings.Cut(rest, ":")
	if partition != "*" && !partitions[partition] {
		return partitionMessage(partition, rest), ""
	}
	if prefix != "arn" {
		// AWS lets this pass; ztgate does not, as no ARN can match it.
		return fmt.Sprintf(`Resource %s must be in ARN format or "*".`, r), `an ARN starts with "arn:"`
	}
	if !hasVendor {
		return MsgResourceVendor, ""
	}
	service, rest, _ := strings.Cut(rest, ":")
	if strings.ContainsAny(service, "*?") {
		return MsgResourceVendor, ""
	}
	regional := !strings.HasPrefix(rest, ":") // rest is region:account:resource
	_, rest, _ = strings.Cut(rest, ":")
	_, res, _ := strings.Cut(rest, ":")
	switch service {
	case "iam":
		if regional {
			return fmt.Sprintf("IAM resource %s cannot contain region information.", r), ""
		}
		if res != "*" && res != "root" && !hasAnyPrefix(res, iamPaths) {
			return `IAM resource path must either be "*" or start with ` + strings.Join(iamPaths, ", ") + ".", ""
		}
	case "s3":
		// Access points are the regional S3 resources.
		if regional && !strings.HasPrefix(res, "accesspoint/") {
			return fmt.Sprintf("Resource %s can not contain region information.", r), ""
		}
	}
	return "", ""
}

// partitionMessage is AWS's message for an unknown partition. AWS rebuilds
// the ARN from what follows the partition, filling absent parts with "*".
func partitionMessage(partition, rest string) string {
	parts := strings.Split(rest, ":")
	part := func(i int) string {
		if i < len(parts) && (parts[i] != "" || len(parts) > 1) {
			if i == 3 {
				return strings.Join(parts[3:], ":")
			}
			return parts[i]
		}
		return "*"
	}
	return fmt.Sprintf(`Partition "%s" is not valid for resource "arn:%s:%s:%s:%s:%s".`,
		partition, partition, part(0), part(1), part(2), part(3))
}

// legacyResourceProblem is AWS's older ARN parser, which still runs: an
// ARN with an empty part must have all six, and the service must be named.
func legacyResourceProblem(r string) string {
	if r == "*" {
		return ""
	}
	if strings.Count(r, ":") < 5 && strings.Contains(r, "::") {
		return fmt.Sprintf("resource %q has an empty part but fewer than six parts", r)
	}
	if parts := strings.SplitN(r, ":", 4); len(parts) < 3 || parts[2] == "" {
		return fmt.Sprintf("resource %q names no service", r)
	}
	return ""
}

// principalTypes are the keys of a Principal object.
var principalTypes = []string{
	PrincipalAWS, PrincipalService, PrincipalFederated, PrincipalCanonicalUser, PrincipalSPIFFE,
}

// principalValueOK checks one principal. AWS principals are "*", an
// account ID, or the full ARN of an account root, user, role, session or
// federated user, with no wildcard: AWS resolves them when the policy is
// saved, so a pattern could never match.
func principalValueOK(typ, s string) bool {
	switch typ {
	case PrincipalAWS:
		return s == "*" || isAccountID(s) || principalARN(s) || uniqueID(s)
	case PrincipalSPIFFE:
		td, _, _ := strings.Cut(strings.TrimPrefix(s, "spiffe://"), "/")
		return strings.HasPrefix(s, "spiffe://") && td != ""
	case PrincipalService:
		return s != "" && !strings.ContainsAny(s, " \t\r\n")
	}
	return s != ""
}

// uniqueID reports whether s is the unique id of a user or role ("AIDA…",
// "AROA…"): what a trust policy holds in place of the ARN of a principal
// that was deleted, as in AWS. It matches no caller.
func uniqueID(s string) bool {
	if len(s) < 20 || len(s) > 128 || (!strings.HasPrefix(s, "AIDA") && !strings.HasPrefix(s, "AROA")) {
		return false
	}
	for i := 4; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// principalARN reports whether s is an ARN that can name a principal: an
// account's root, a user or a role (with a path or not), an assumed-role
// session or a federated user. A group, a policy or an instance profile
// cannot be a principal, as in AWS.
func principalARN(s string) bool {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || !partitions[p[1]] || p[3] != "" || !isAccountID(p[4]) || strings.ContainsAny(s, "*?") {
		return false
	}
	res := p[5]
	named := func(prefix string) bool {
		rest, ok := strings.CutPrefix(res, prefix)
		return ok && rest != "" && !strings.HasSuffix(rest, "/")
	}
	switch p[2] {
	case "iam":
		return res == "root" || named("user/") || named("role/")
	case "sts":
		if rest, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			role, session, ok := strings.Cut(rest, "/")
			return ok && role != "" && session != "" && !strings.Contains(session, "/")
		}
		return named("federated-user/")
	}
	return false
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
