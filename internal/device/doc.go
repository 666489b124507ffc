// Package device is ztgate's device registry: the enrollment of devices
// with one-time tokens, their certificates from ztgate's CA, the posture
// reports they sign with their own keys, and the device facts
// (zt:Device* condition keys) the enforcement points decide with.
//
// # Enrollment
//
// An administrator creates an enrollment token for one device
// ([Registry.CreateToken]): its name, the user it belongs to (or none),
// whether the organisation manages it, its groups. The token is 256 random
// bits, shown once; the store keeps only its SHA-256 hash, as the key of a
// record of kind [KindToken], so that a token is looked up, never compared.
// The device makes its own key (ECDSA P-256 by default) and sends a CSR
// with the token ([Registry.Enroll]). The CA signs a certificate whose one
// URI SAN is spiffe://TRUST_DOMAIN/device/DEVICE_ID, so that enforcement
// points verify devices and workloads alike ([pki.CA.VerifySVID]) and tell
// them apart by the /device/ path ([IDOf]). The token is consumed in the
// same transaction that records the device (kind [KindDevice]); a token
// that is unknown, used or expired is refused with one answer
// ("enrollment token already used or unknown") so that a caller learns
// nothing about which. When the transaction loses (a token used twice at
// once), the certificate already signed is revoked and never returned.
//
// # Posture
//
// A device reports its posture as a compact JWS signed with its
// certificate's key ([SignReport]): header typ "ztgate-posture+jwt", alg
// ES256, ES384, EdDSA or RS256 to fit the key, and the certificate chain
// (x5c) or the device ID (kid). [Registry.AcceptReport] refuses a report
// larger than [MaxReportSize] before parsing it, verifies the chain
// against the CA (trust, validity, revocation), requires a /device/ ID of
// a registered, non-revoked device holding that very certificate, checks
// the signature before reading any claim, and requires iat within
// [MaxClockSkew] of the server's time and later than the last accepted
// report's (an older or equal one is a replay). Accepted reports are
// stored (kind [KindPosture], one record per device, the last).
//
// # Renewal
//
// A device certificate lives devices.cert_ttl; the device renews it
// before then without a token ([RenewDir], "ztgate device renew", run
// daily: it renews past half-life). The request ([RenewPath]) is a
// compact JWS like a report, typ "ztgate-renew+jwt", signed with the key
// of the current certificate and carrying its chain (x5c), whose claims
// are sub, iat and a CSR for the new key (which may be the old one).
// [Registry.Renew] checks it as a report ([MaxRenewalSize], the chain and
// the device, the signature, iat within [MaxClockSkew] and later than the
// last renewal accepted), then the CSR as enrollment does, and issues a
// certificate for the same device ID and lifetime, appended to the
// device's certificates so that revoking the device revokes it too. Only
// the device's current (last issued) certificate renews: a replaced key
// cannot make itself a successor. The certificate renewed from is not
// revoked but stays valid until it expires, so that connections and
// processes that hold it finish and the CRL does not grow with every
// renewal. A device whose answer was lost sends again with the same new
// key, from its old certificate, and gets the chain already issued. A
// device holds at most [MaxLiveCertificates] unexpired certificates.
//
// # Facts for decisions
//
// Every node keeps the devices and their last reports in memory, loaded at
// [Open] and kept current by [Registry.Run] from the store's change feed,
// so that [Registry.Context] sets a request's zt:Device* keys without
// touching the database and without locks. A device is compliant when its
// last report shows an encrypted disk, a firewall and a screen lock, and is
// not older than the maximum posture age; a device that never reported
// is not compliant and carries no report keys.
//
// # Revocation
//
// [Registry.Revoke] marks the device revoked and revokes all its
// certificates, renewed ones included, with [pki.CA.Revoke]: every node
// refuses them once the change feed brings the revocations, and refuses
// the device's reports, renewals and facts once it brings the device
// record.
//
// # HTTP
//
// [NewHandler] serves enrollment ([EnrollPath]), posture reports
// ([PosturePath]) and renewals ([RenewPath]) to devices,
// [NewAdminHandler] the administrator's API for the control socket; both
// record every issue, refusal and revocation through an [audit.Recorder]
// and answer errors as JSON objects with a code and a constant message.
// An issue that cannot be recorded is undone: an enrolled device is
// revoked, a renewed certificate withdrawn (revoked, and no longer
// current). [Enroll], [SignReport], [SendReport] and [Renew] are their
// client side, and [Command] is "ztgate device". [CollectLinux] gathers a
// Linux host's posture from /etc, /proc and /sys.
package device
