// Package workload serves the SPIFFE Workload API on a Unix socket: the
// host-local half of workload identity, which `ztgate agent` runs so that
// processes on its host get X509-SVIDs (and, where the issuer supports
// them, JWT-SVIDs) without holding any secret to begin with.
//
// # Who is calling
//
// The socket is world-writable: any local process may ask who it is. The
// answer comes from the kernel, not from the request. The connection's
// peer credentials (SO_PEERCRED: pid, uid, gid at connect time) and the
// calling process's binary (/proc/PID/exe) become selectors:
//
//	unix:uid:1000            unix:gid:1000
//	unix:user:alice          unix:group:staff
//	unix:path:/usr/local/bin/billing
//
// The pid is only a number, and the process behind it may exit and the
// number be reused. Where the kernel offers SO_PEERPIDFD (Linux 6.5 and
// later) the server holds a pidfd for the connecting process and checks it
// is alive before and after reading its binary; elsewhere it compares the
// process's start time before and after with the one seen on accept. What
// remains (peercred_linux.go has the details): without a pidfd, a pid reused
// before the server accepts the connection, or within one clock tick; and
// always, a process that connects, hands the socket to a child and then
// execs a trusted binary lends that binary's path to the child. Entries
// that matter should select on the uid too, which the kernel fixes at
// connect. Calls without the "workload.spiffe.io: true" metadata the
// specification requires are refused with InvalidArgument before anything
// else.
//
// # What it gets
//
// A registration [Entry] grants its SPIFFE ID to every workload that has
// all of its selectors. A workload matching several entries gets one
// X509-SVID per entry, in entry order: the first is its default. A
// workload matching none gets PermissionDenied ("no identity issued"), as
// from SPIRE; so does one asking for bundles or validation, since the
// verifier-only mode SPIRE calls "unauthenticated verifiers" is not
// offered. Entries come from an [Entries] source that the agent keeps in
// step with the server; every open stream re-evaluates when they change,
// and a stream whose workload no longer matches anything ends with
// PermissionDenied.
//
// # Issuance and rotation
//
// The package owns no CA. For each entry it generates an ECDSA P-256 key,
// sends a CSR to the [Issuer], checks the chain it gets back (the right
// SPIFFE ID, this key, a valid X509-SVID, chaining to the trust bundle),
// and keeps it. SVIDs are issued for every entry as soon as it appears,
// not when a workload first asks, so a workload started during a server
// outage still gets one. Each is renewed at half of its lifetime (one hour
// by default), so a server outage shorter than half a lifetime interrupts
// no workload. Failed issuances are retried
// from one second, doubling to thirty, with jitter; meanwhile workloads
// keep their current SVIDs. Renewed SVIDs, and trust bundles that changed
// (re-read every thirty seconds by default), are pushed on every open
// stream of the workloads they concern. Private keys live only in memory,
// are sent only to the workload they belong to, and print as their SVID's
// serial number.
//
// # JWT-SVIDs
//
// If the Issuer is also a [JWTIssuer], FetchJWTSVID, FetchJWTBundles and
// ValidateJWTSVID delegate to it; otherwise they answer Unimplemented.
package workload
