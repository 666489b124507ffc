package secret

import (
	"bytes"
	"errors"
	"fmt"
)

// The check value and its additional data are fixed, so that any sealed
// value that opens with checkAAD to checkText was made by NewCheck.
var (
	checkText = []byte("ztgate kek check v1")
	checkAAD  = []byte("ztgate kek check")
)

// NewCheck seals a known value under k. The caller stores the result beside
// the data it seals with k (ztgate keeps it in the data directory) and
// passes it to [VerifyCheck] at every start.
func NewCheck(k *KEK) ([]byte, error) {
	return Seal(k, checkText, checkAAD)
}

// VerifyCheck reports whether k is the key that made the check value
// sealed. If another key made it, the error wraps [ErrWrongKey] and names
// both keys by id; a damaged check value gives an error wrapping
// [ErrCorrupt].
func VerifyCheck(k *KEK, sealed []byte) error {
	text, err := Open(k, sealed, checkAAD)
	if err != nil {
		var wk *wrongKeyError
		if errors.As(err, &wk) {
			return &detailError{
				msg: fmt.Sprintf("the key-encryption key (id %s) is not the one this data directory was sealed with (id %s)", wk.have, wk.sealedWith),
				err: ErrWrongKey,
			}
		}
		return fmt.Errorf("key check value: %w", err)
	}
	defer clear(text)
	if !bytes.Equal(text, checkText) {
		return fmt.Errorf("key check value: %w: it holds an unexpected value", ErrCorrupt)
	}
	return nil
}
