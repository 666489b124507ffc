// Package sigv4 authenticates requests signed with AWS Signature Version 4
// (AWS4-HMAC-SHA256) and its asymmetric variant SigV4a
// (AWS4-ECDSA-P256-SHA256), so that ztgate services can accept requests from
// unmodified AWS SDKs, the AWS CLI and curl --aws-sigv4.
//
// A Verifier recomputes the canonical request and string to sign exactly as
// the signing clients do, in both the Authorization-header and the presigned
// query-string flavours, and compares signatures in constant time. What a
// client sees on failure is an *Error carrying AWS's public code and wording;
// it never contains the expected signature, the string to sign or a secret.
//
// Streaming uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) are verified chunk
// by chunk by the reader that Result.ChunkReader returns.
package sigv4
