package policy

import "strings"

// AWS IAM's messages for malformed policy documents, word for word: clients
// that match on them, and people who search for them, find what they expect.
const (
	MsgSyntax              = "Syntax errors in policy."
	MsgVersion             = "Policy document must be version 2012-10-17 or greater."
	MsgLegacy              = "The policy failed legacy parsing"
	MsgSidUnique           = "Statement IDs (SID) in a single policy must be unique."
	MsgSidAlphanumeric     = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
	MsgNoActions           = "Policy statement must contain actions."
	MsgNoResources         = "Policy statement must contain resources."
	MsgVendorMissing       = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	MsgOneColon            = "Actions/Condition can contain only one colon."
	MsgResourceVendor      = "Resource vendor must be fully qualified and cannot contain regexes."
	MsgPrincipalNotAllowed = "Policy document should not specify a principal."
	MsgPrincipalMissing    = "Missing required field Principal"
	MsgTrustResource       = "Has prohibited field Resource."
	MsgTrustActions        = "Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  and sts:AssumeRoleWithWebIdentity"
)

// Error is one problem in a policy document.
type Error struct {
	Pos Pos    // of the offending element; zero when unknown
	Msg string // AWS IAM's wording where AWS has one
	// Detail says what exactly is wrong where Msg is AWS's catch-all
	// ("Syntax errors in policy."); "" when Msg says it all.
	Detail string
}

// Error formats the problem as "line:col: message (detail)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos.Line > 0 {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is the problems found in one document, in the order AWS would
// report them: the first is the one AWS IAM answers with.
type Errors []*Error

// Error formats the problems one a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
