// Package secret keeps ztgate's secrets at rest — access-key secrets, CA
// private keys, session keys — under envelope encryption with a single
// key-encryption key (KEK).
//
// # The key-encryption key
//
// A KEK is 32 random bytes. Its text encoding is one line,
//
//	ztgate-kek-v1:<base64 of the 32 bytes, standard alphabet, padded>
//
// followed by a newline. [WriteKEKFile] writes it to a new file of mode 0600
// and refuses to replace an existing one, since replacing the KEK makes
// everything sealed under it unreadable. [LoadKEK] takes the key from the
// environment variable ZTGATE_KEK when that is set and not empty, and from
// the key file otherwise; ZTGATE_KEK also accepts the bare base64 of the 32
// bytes without the "ztgate-kek-v1:" prefix, which is what
// "openssl rand -base64 32" prints. A key file that its group or others may
// access is refused.
//
// A KEK never prints: fmt verbs and log/slog show "[redacted kek <id>]",
// where the id ([KEK.ID]) is a public fingerprint that lets an error name the
// key that sealed some data without revealing it.
//
// # Envelope format
//
// [Seal] draws a fresh 32-byte data key for every call, wraps it with
// AES-256-GCM under the KEK and encrypts the plaintext with AES-256-GCM under
// the data key. Version 1 of the sealed format is, in order:
//
//	size  field
//	1     magic, 'z' (0x7a)
//	1     format version, 1
//	8     KEK id, the first 8 bytes of HMAC-SHA256(KEK, "ztgate kek id")
//	12    nonce wrapping the data key
//	48    data key sealed under the KEK (32 bytes) and its GCM tag (16)
//	12    payload nonce
//	n+16  plaintext sealed under the data key and its GCM tag
//
// so a sealed value is 98 bytes longer than its plaintext. The first ten
// bytes (magic, version, KEK id) are the additional data of the data-key
// wrap: changing any of them makes the data key fail to unwrap, so a header
// cannot be swapped onto another body and a future format version cannot
// reinterpret a version 1 data key. The caller's additional data is
// authenticated with the payload; it binds a sealed value to its place (for
// example a row id and column) so that it cannot be moved to another.
//
// Nonces are random. The 96-bit nonces under the KEK allow about 2^32 seals
// per KEK before the chance of a repeat becomes a concern, far beyond the
// number of secrets ztgate keeps; each data key encrypts one message only.
//
// [Open] tells a wrong key ([ErrWrongKey]) from damaged data ([ErrCorrupt])
// and never returns partial plaintext. At startup ztgate compares the KEK
// with a check value sealed when the data directory was created
// ([NewCheck], [VerifyCheck]), so a wrong key stops the process instead of
// surfacing later as undecryptable rows.
//
// Data keys and decoded key bytes are zeroed after use. That is best effort:
// Go may copy memory, and the AES key schedules inside crypto/aes are out of
// reach.
package secret
