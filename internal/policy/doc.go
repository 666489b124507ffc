// Package policy is ztgate's policy language: the AWS IAM JSON policy
// grammar, parsed with positions and validated with AWS's wording, so that a
// policy ztgate accepts is one AWS would accept and means what AWS means.
//
// Parse reads a document into the syntax tree of ast.go, recording the
// line:column of every element. Validate checks a document against the rules
// of the place it is used (Kind: identity, resource, trust, boundary,
// guardrail, resource guardrail, session) and reports every problem it finds.
// The problems come in the order AWS checks them, so the first one carries
// the message AWS IAM would return for the whole document ("Syntax errors in
// policy.", "The policy failed legacy parsing", ...); the others follow.
//
// The package is pure: no I/O, no clock, no logging.
package policy
