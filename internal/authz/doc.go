// Package authz is ztgate's policy engine: the policy decision point of
// every enforcement point. It compiles policies written in the AWS IAM
// policy language (parsed by package policy) into immutable, indexed
// snapshots and decides requests with AWS's evaluation logic: explicit
// deny wins; guardrails (SCP-like) and resource guardrails (RCP-like) at
// every level must allow; resource, identity, permissions-boundary and
// session policies combine as AWS combines them within and across
// accounts.
//
// Decisions are pure: no I/O, no clock, no logging. Time and every other
// fact arrive in the request's context. A decision allocates nothing and
// looks only at the statements indexed under its action, so its cost does
// not grow with the number of policies in the snapshot. Each decision names
// the statements that decided it.
package authz
