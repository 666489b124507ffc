package signin

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argonParams are argon2id's costs. They are stored with each hash, so
// raising them later leaves old hashes readable.
type argonParams struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
	KeyLen  uint32
}

// defaultArgon is OWASP's first recommendation for argon2id (19 MiB,
// two passes, one lane): a sign-in costs about 20–40 ms of one core.
var defaultArgon = argonParams{Time: 2, Memory: 19 * 1024, Threads: 1, KeyLen: 32}

const (
	saltLen = 16
	// Passwords are at least minPassword bytes when set, and at most
	// maxPassword bytes whenever they are hashed, so that a huge form
	// field cannot buy a long hash computation.
	minPassword = 8
	maxPassword = 1024
	// hashConcurrency bounds the hashes computed at once, and so the
	// memory that concurrent sign-ins can make the node spend.
	hashConcurrency = 4
)

var errBadHash = errors.New("signin: malformed password hash")

// hashPassword returns the PHC string of password's argon2id hash under a
// fresh salt: $argon2id$v=19$m=M,t=T,p=P$SALT$HASH.
func hashPassword(p argonParams, password string) (string, error) {
	if len(password) > maxPassword {
		return "", fmt.Errorf("signin: password longer than %d bytes", maxPassword)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verifyPassword reports whether password matches the hash, comparing in
// constant time. Costs beyond sane bounds are refused rather than spent.
func verifyPassword(encoded, password string) (bool, error) {
	if len(password) > maxPassword {
		return false, nil
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, errBadHash
	}
	var p argonParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	if p.Time < 1 || p.Time > 16 || p.Memory < 8 || p.Memory > 256*1024 || p.Threads < 1 || p.Threads > 16 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// checkPassword verifies a password, or, when encoded is empty (no such
// user, or no password), spends the same time on the dummy hash and
// fails, so that timing does not tell which.
func (s *Service) checkPassword(encoded, password string) bool {
	s.hashSem <- struct{}{}
	defer func() { <-s.hashSem }()
	if encoded == "" {
		verifyPassword(s.dummy, password)
		return false
	}
	ok, err := verifyPassword(encoded, password)
	if err != nil {
		s.log.Error("signin: stored password hash is malformed")
		verifyPassword(s.dummy, password)
		return false
	}
	return ok
}
