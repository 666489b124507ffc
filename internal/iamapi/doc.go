// Package iamapi serves ztgate's identities on AWS's IAM query API, so
// that "aws iam --endpoint-url http://NODE", aws-sdk-go-v2 and boto3 manage
// users, access keys, roles, groups and policies unchanged, and provides
// "ztgate iam", a client of the same API for people without the AWS CLI.
//
// Every request is authenticated with SigV4 (package authn) and every
// action authorized by policy before it runs: iam:<Action> on the ARN AWS
// uses (the user's, role's, group's or policy's; "*" for ListUsers,
// ListRoles, ListGroups, ListPolicies and SimulateCustomPolicy), with the
// condition keys AWS sets for it (aws:RequestTag/…, aws:TagKeys,
// aws:ResourceTag/…, iam:PolicyARN, iam:PermissionsBoundary). A target that
// does not exist is authorized under the ARN its name would have at the
// root path, so that a caller without permission is told AccessDenied, not
// NoSuchEntity. (As on AWS, a denial names the ARN decided on, so it shows
// an existing target's path.)
//
// Every write, made or refused, is audited as an administrative event, and
// every decided read as a decision; a bad signature is an authentication
// failure. A call whose record cannot be written is refused with
// InternalFailure; a new access key whose record cannot be written is
// deleted again. Records and logs never hold a secret access key: it
// appears only in CreateAccessKey's response.
//
// After every successful write the handler rebuilds the node's policy
// snapshot, so that the node's next request is decided with the change.
package iamapi
