package policy

import (
	"fmt"
	"strings"
)

// actionProblem checks an Action or NotAction entry as AWS does:
// "vendor:action", or "*". AWS puts nothing on the action part
// ("iam: asdf" passes); the vendor is letters, digits, '-' and '.'.
func actionProblem(a string) (msg, detail string) {
	vendor, rest, ok := strings.Cut(a, ":")
	switch {
	case !ok && a == "*":
		return "", ""
	case !ok:
		return MsgVendorMissing, ""
	case strings.Contains(rest, ":"):
		return MsgOneColon, ""
	case vendor == "*":
		return "", ""
	case vendor == "":
		// AWS lets an empty vendor pass; no action has one.
		return fmt.Sprintf("Vendor %s is not valid", vendor), "the vendor before ':' is empty"
	}
	for i := 0; i < len(vendor); i++ {
		c := vendor[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Sprintf("Vendor %s is not valid", vendor), ""
		}
	}
	return "", ""
}

// stsAction reports whether a trust policy may name the action.
func stsAction(a string) bool {
	vendor, _, ok := strings.Cut(a, ":")
	return ok && strings.EqualFold(vendor, "sts")
}
