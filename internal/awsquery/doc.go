// Package awsquery decodes the request side of AWS's query protocol: the
// form-encoded bodies ("Action=AssumeRole&Version=2011-06-15&...") that the
// AWS CLI and SDKs send to STS and IAM.
//
// Parse is strict where leniency would let two readers of one body
// disagree: a malformed percent-escape, invalid UTF-8, an empty name or a
// repeated name fails the whole body (ErrMalformed), as does a body of more
// than MaxParams parameters. Params then reads the protocol's aggregate
// shapes, each in both its wrapped and its flattened form:
//
//	Tags.member.1.Key=a   Tags.member.1.Value=b     Structs("Tags")
//	Arns.member.1=x       Arns.1=x                  List("Arns")
//	Ctx.entry.1.key=k     Ctx.entry.1.value=v       Map("Ctx")
//	Nested.Field=x                                  Sub("Nested").Get("Field")
//
// Elements must be numbered 1 to N without gaps or leading zeros; anything
// else is ErrInvalid. Errors are *Error values naming the parameter; they
// never repeat a parameter's value, since values carry session tokens, SAML
// assertions and MFA codes, and clip names to 128 bytes.
//
// Params holds client values, some secret, so it prints and logs as its
// parameter names only.
package awsquery
