// Package condition compiles and evaluates the condition operators of
// ztgate's policy language, the IAM Condition element, with AWS's
// semantics. A Condition is one operator applied to one key with its
// policy values ("StringLike": {"s3:prefix": ["home/*", "shared/*"]}); it
// is compiled once, when the policy is loaded, and evaluated on every
// request without allocating.
//
// Operators: String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,
// Like,NotLike}, Numeric{Equals,NotEquals,LessThan,LessThanEquals,
// GreaterThan,GreaterThanEquals}, Date{same six}, Bool, BinaryEquals,
// IpAddress, NotIpAddress, Arn{Equals,Like,NotEquals,NotLike} and Null;
// each but Null also with the IfExists suffix, and with a ForAllValues: or
// ForAnyValue: prefix. Names are matched without regard to case.
//
// Evaluation, for a condition on key K:
//
//   - The policy values are OR-ed: the condition holds if the request value
//     matches any of them. A negated operator (StringNotEquals, NotIpAddress,
//     ArnNotLike…) holds if the request value matches none of them.
//   - K absent from the request: false, but true for a negated operator and
//     for any ...IfExists operator. Null: true holds when K is absent, false
//     when it is present.
//   - A single-valued operator (no set prefix) on a multivalued key is false,
//     negated or not: a multivalued key needs ForAllValues or ForAnyValue.
//   - ForAnyValue: true if at least one request value satisfies the operator
//     (false when K is absent or has no values). ForAllValues: true if every
//     request value satisfies it, and so true when K is absent or has no
//     values. A single-valued key is a set of one. With a negated operator,
//     "satisfies" means matches none of the policy values.
//   - No verdict is no match, for negated operators too: a request value that
//     does not parse (a number, date, address, ARN, base64 or boolean), and a
//     policy value whose variable does not resolve, satisfy neither an
//     operator nor its negation.
//
// Policy variables (Options.Vars, policy version 2012-10-17) are expanded in
// the values of the String, Arn and Bool operators, as AWS allows; see
// package wildcard. The Like operators and the Arn operators take the
// wildcards '*' and '?'; ArnEquals is the same operator as ArnLike.
//
// Values: numbers are decimals (an optional sign, digits, an optional
// fraction) compared exactly; dates are the W3C profile of ISO 8601
// (YYYY-MM, YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.s…]] with Z, ±hh:mm, ±hhmm
// or no zone, which reads as UTC) or an integer epoch (seconds, as
// aws:EpochTime; milliseconds from 10^11 on, a value no date in seconds
// reaches before the year 5138), compared as instants; Bool values are true or false in any case; BinaryEquals values
// are base64 and compared as bytes; IP values are an IPv4 or IPv6 address
// or CIDR block (an address alone is a /32 or /128), and an address never
// matches a block of the other family.
//
// An unknown operator and a policy value that cannot be parsed are compile
// errors (ErrOperator, ErrValue). An Arn operator's policy value that is not
// a six-part ARN is not an error (AWS accepts the policy), but it matches
// nothing and its negation does not hold.
package condition
