// Package wildcard compiles and matches the patterns of ztgate's policy
// language: IAM-style globs with policy variables, and ARNs matched part by
// part.
//
// In a pattern '*' matches any run of characters (none included, ':' and
// '/' included) and '?' exactly one character; a character is a UTF-8
// rune, and a byte that is not valid UTF-8 counts as one character. With
// Options.Vars (policy version 2012-10-17) a pattern may hold policy
// variables:
//
//	${aws:username}               the request's value of aws:username
//	${aws:PrincipalTag/team}      any key of the request context
//	${aws:username, 'guest'}      with a default, used when the key is absent
//	${*} ${?} ${$}                the literal characters * ? $
//
// A variable's value is matched as plain text: a '*' in a user name is not
// a wildcard. A variable resolves to the key's value when the request
// carries the key with a single value; otherwise to its default, if it has
// one. A pattern with a variable that does not resolve matches nothing
// (Test reports it, so that negated condition operators can tell "no
// match" from "no verdict"). Without Options.Vars (policy version
// 2008-10-17) "${" is ordinary text.
//
// Patterns are compiled once and matched many times: Match and Test do not
// allocate, and look variables up through keys.Context at match time.
//
// An ARN pattern (CompileARN) is split into the six colon-separated parts
// of arn:partition:service:region:account-id:resource, the last of which
// may itself hold colons, and each part is matched against the same part
// of the value, so a '*' in the region cannot reach into the account. The
// split is made on the colons written in the pattern, before variables are
// substituted: a colon inside a variable's value is plain text.
package wildcard
