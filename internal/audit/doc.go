// Package audit is ztgate's audit trail: every use of privilege recorded
// as a typed, CloudTrail-shaped record, in a log whose tampering is
// evident.
//
// # Recording
//
// Components take a [Recorder] and build records with the constructors of
// the five categories, so that none builds one wrongly: [DecisionEvent]
// (one per authorization decision, allowed or denied, with the matched
// statements), [AuthFailureEvent], [IssuedEvent] (credentials, sessions,
// certificates), [AdminEvent] and [RevocationEvent]. [Writer] is the
// durable Recorder; [Memory] is a fake for tests. A component that gets an
// error from Record refuses the access: ztgate fails closed.
//
// Records never hold secrets. Before a record is written, [Redact]
// replaces, in requestParameters and responseElements, the value of every
// key naming a secret (secretAccessKey, sessionToken, password,
// privateKey, token, cookie, authorization, clientSecret, and so on, in
// any case and spelling; see [IsSecretName]) and every value that is one
// whatever its key (a PEM private key, an Authorization header value, a
// query string's signature or token) with "REDACTED", on a copy: the
// caller's maps are left as they were.
//
// # Durability
//
// In the default mode, [Sync], [Writer.Append] returns only once the
// record is on disk. One goroutine takes every record waiting, writes
// them with one write and one fsync (fdatasync on Linux), and wakes all
// their appenders (group commit), so that many concurrent appenders share
// each fsync: throughput grows with the number of requests in flight. A decision
// whose record was appended, and so whose response was released, is never
// missing after a crash. In [Async] mode Append returns once the record is
// queued; the queue is bounded (Options.QueueSize) and Append blocks while
// it is full rather than drop a record. A crash in Async mode loses what
// was queued or written but not yet synced: choose it only where losing
// the last moment's records is acceptable. A failed write or fsync stops
// the writer: every later Append returns the error.
//
// # Layout
//
// The audit directory is DATA_DIR/audit ([DirName]):
//
//	audit/keys/<keyid>.key                        signing key, sealed (0600)
//	audit/keys/<keyid>.pub                        its public key, PEM
//	audit/keys/active                             the key id in use
//	audit/<node>/segments/<seq20>.jsonl           records
//	audit/<node>/segments/<seq20>.jsonl.<off>.torn  torn-tail evidence
//	audit/<node>/digests/<seq20>.digest.json      signed segment digests
//	audit/<node>/retention.json                   signed retention marker
//	audit/<node>/writer.lock                      held by the writing process
//
// <seq20> is the sequence number of the segment's first record, in
// decimal, zero-padded to 20 digits, so that names sort in log order.
// Directories are created 0700 and files 0600. A node name is up to 63
// letters, digits, dots, underscores and hyphens, and is not "keys".
// Other files at the top of the audit directory (a query index, say) are
// not part of the log, and names starting with "." are temporary files.
//
// # Segments
//
// A segment holds one record per line, in this form, with no spaces:
//
//	{"seq":N,"prev":"<64 hex>","hash":"<64 hex>","record":<record JSON>}
//
// followed by "\n". seq counts a node's records from 1 without gaps,
// across segments. hash is the lower-case hex of
//
//	SHA-256(prev as 32 bytes || seq as 8 bytes big-endian || record bytes)
//
// where the record bytes are the record's JSON exactly as the line holds
// them, and prev is the previous record's hash: 32 zero bytes for a
// node's first record. A reader must hash the bytes as read and never
// re-encoded JSON. The record is a [Record]: CloudTrail's fields
// (eventVersion, userIdentity, eventTime, eventSource, eventName,
// awsRegion, sourceIPAddress, userAgent, requestParameters,
// responseElements, errorCode, errorMessage, requestID, eventID,
// readOnly, resources, eventType, tlsDetails) and a "ztgate" object
// (category, decision, matchedStatements, device, risk, route, node, ...).
//
// The segment being written ends in zeros after its last line: the
// writer overwrites a stretch of zeros it wrote and synced ahead (up to
// 1 MiB, never past SegmentSize), so that syncing records syncs data
// alone, not a change of the file's size. A line never holds a zero
// byte; a reader takes the first line that does (or a zero byte where a
// line would start) as the end of the records: the writer's zeros, a line
// being written now, or one torn by a crash. Closing a segment cuts the
// zeros off first: a closed segment is its lines alone, and a zero byte
// in one is reported as a modification.
//
// A segment is closed when it would pass Options.SegmentSize (64 MiB),
// when it has been open Options.SegmentAge (15 minutes), when the writer
// is closed, and by recovery; it is created with its first record. Only
// the newest segment of a node is open, and it has no digest.
//
// # Digests
//
// Closing a segment writes digests/<seq20>.digest.json, a JSON object with
// these members, in this order:
//
//	digestVersion      1
//	node               the node
//	segment            the segment's file name
//	segmentSha256      SHA-256 of the whole segment file, hex
//	size               the segment's size in bytes
//	firstSeq, lastSeq  its first and last sequence numbers
//	records            lastSeq-firstSeq+1
//	firstPrev          prev of its first record: the chain entering it
//	lastHash           hash of its last record
//	earliestEventTime, latestEventTime  its records' eventTime range
//	closedAt           when it was closed
//	closeReason        size, age, shutdown or recovery
//	tornTails          (when present) [{offset, length, file}]: bytes
//	                   recovery cut off the segment after a crash
//	previousDigest     the file name of the node's previous digest
//	previousSignature  that digest's signature
//	keyId              the signing key's id
//	signature          base64 ECDSA P-256 signature, ASN.1 DER
//
// Times are RFC 3339 strings in UTC. The first digest of a node has empty
// previousDigest and previousSignature. The signature is over the SHA-256
// of the payload: the object without its signature member, members in the
// order above, encoded compactly (no whitespace), tornTails left out when
// there are none. Every string in a digest is plain ASCII with
// nothing to escape, so the payload is the same bytes in any JSON encoder
// that keeps member order. The file itself is indented for reading.
//
// Signing keys are ECDSA P-256. A key's id is the first 16 hex digits of
// the SHA-256 of its public key's PKIX DER encoding. The private key, in
// PKCS #8, is sealed with the key-encryption key ([secret.Seal]), its
// additional data "ztgate audit signing key <keyid>"; the public key is
// kept beside it in PEM. The signing key is only as trustworthy as the
// place its public key is read from: keep a copy of keys/*.pub apart from
// the log and verify against it (ztgate audit verify --keys).
//
// # Recovery
//
// [Open] repairs what a crash left. The writer's zeros after the newest
// segment's last whole line are cut off. Other bytes there, part of a
// batch being written when the process or the machine died and never
// acknowledged (up to the last byte that is not zero; an OS crash can
// leave a batch's pages with holes of zeros), are moved to
// <segment>.<offset>.torn, the segment is truncated to its last whole
// line, a warning is logged, and the
// segment's digest lists the cut in tornTails. Then the newest segment is
// closed and its digest signed, if its lines chain on from the last
// digest; a segment holding no whole line is written on instead. More
// after the last whole line than a crash can leave unsynced (the writer's
// queue of writes, about 30 MiB) is not a torn tail: recovery leaves such
// a segment without a digest for verify to report. Recovery
// never signs a segment that does not verify: it leaves it without a
// digest, and the log continues in a new segment.
//
// # Retention
//
// With Options.RetainAge or RetainSize (ztgate audit prune, offline), the
// oldest closed segments of a node are removed, after a segment closes
// and at Open: while their latestEventTime is older than RetainAge or
// the node's closed segments take more than RetainSize bytes. The open
// segment and the newest closed one are never removed, and only an
// unbroken prefix of the log is: retention stops at a digest that does
// not verify, does not chain, or whose segment is missing or of another
// size.
//
// First retention.json, a [RetentionMarker], is written (replacing the
// last one): retentionVersion (1), node, prunedThroughSeq (the last
// record removed), prunedThroughDigest (the file name of the last digest
// removed), prunedThroughSignature (its signature), prunedThroughLastHash
// (its lastHash), prunedAt, keyId and signature, signed as a digest is.
// Then each segment's torn-tail files, the segment and its digest are
// removed, oldest first. A crash part way leaves files the marker covers,
// which verification notes (info) and passes over and the next prune
// removes.
//
// # Verification
//
// [Verify] (ztgate audit verify) recomputes every line's hash and follows
// the chain; compares every closed segment with its digest; checks every
// digest's signature and its place in the digest chain; and reports each
// problem as a [Finding] naming its [Kind], node, file and line: modified,
// deleted, inserted or reordered records; truncated, deleted or rewritten
// segments; forged, missing or out-of-order digests; unknown keys. A torn
// tail is a warning, not an error: it is the trace of a crash, kept and
// signed, and in Sync mode the record it held was never acknowledged.
// Verification reads segments on as many cores as there are, and can run
// while the node writes.
//
// What the digests cannot show: records appended to the open segment are
// protected by the hash chain alone until the segment closes, so cutting
// records off its end, or off the end of the whole log together with the
// newest digests, goes unnoticed, and so does a whole node's directory
// removed; keeping the newest digest elsewhere (or shipping the log off
// the node) closes that gap. A segment being written always ends in the
// writer's zeros, so removing only the newest digest is reported (a
// segment without them and without a digest was closed), but one who
// also appends zeros makes the segment look open again, and its records
// are then protected by the chain alone too.
//
// A retention marker that verifies moves the start of the log: records
// through prunedThroughSeq are expected to be gone, and the first digest
// left must name prunedThroughDigest and prunedThroughSignature as its
// previous digest and signature, start at prunedThroughSeq+1, and have
// prunedThroughLastHash as its firstPrev. A marker that does not verify,
// or that the log does not continue, is a forged-retention error, and
// then the removed segments are reported as deleted; so are segments
// removed without a marker. An old marker put back in place of the
// newest shows the segments removed since as deleted.
package audit
