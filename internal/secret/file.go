package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKEKFileSize bounds what LoadKEK reads; a key file is under 64 bytes.
const maxKEKFileSize = 4 << 10

// WriteKEKFile writes k's text encoding to a new file at path with mode
// 0600 and syncs the file and its directory. It never replaces an existing
// file: losing the old key would make everything sealed under it
// unreadable. On error no file is left behind.
func WriteKEKFile(path string, k *KEK) (err error) {
	text, err := EncodeKEK(k)
	if err != nil {
		return err
	}
	defer clear(text)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return &detailError{
			msg: fmt.Sprintf("key-encryption key file %s already exists; refusing to overwrite it", path),
			err: fs.ErrExist,
		}
	}
	if err != nil {
		return fmt.Errorf("create key-encryption key file: %w", err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(path)
		}
	}()
	// The umask can only take bits away from 0600, but it could take the
	// owner's read bit too; set the mode outright.
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("write key-encryption key file: %w", err)
	}
	if _, err = f.Write(text); err != nil {
		return fmt.Errorf("write key-encryption key file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write key-encryption key file: %w", err)
	}
	closed = true
	if err = f.Close(); err != nil {
		return fmt.Errorf("write key-encryption key file: %w", err)
	}
	if err = syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write key-encryption key file: %w", err)
	}
	return nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadKEK returns the key-encryption key from the environment variable
// ZTGATE_KEK or, when that is unset or empty, from the key file at path.
// It is LoadKEKFrom(path, os.Getenv).
func LoadKEK(path string) (*KEK, error) {
	return LoadKEKFrom(path, os.Getenv)
}

// LoadKEKFrom is [LoadKEK] with the environment read through getenv. A set
// but malformed ZTGATE_KEK is an error even when the key file is good:
// falling back would hide which key is in use.
//
// ZTGATE_KEK holds either the text encoding of the key, as in the key file,
// or the bare base64 of the 32 bytes.
//
// The key file must be a regular file that its group and others cannot
// access (except on Windows, where mode bits mean little).
func LoadKEKFrom(path string, getenv func(string) string) (*KEK, error) {
	if getenv != nil {
		if v := getenv(EnvKEK); v != "" {
			text := []byte(v)
			defer clear(text)
			k, err := parseKEK(text, true)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", EnvKEK, err)
			}
			return k, nil
		}
	}
	if path == "" {
		return nil, errors.New("no key-encryption key: " + EnvKEK + " is unset and no key file is configured")
	}
	return readKEKFile(path)
}

func readKEKFile(path string) (*KEK, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &detailError{
			msg: fmt.Sprintf("key-encryption key file %s: no such file; restore it from its backup or set %s (a new key cannot open what this one sealed), or, for a new data directory, run \"ztgate init\"", path, EnvKEK),
			err: fs.ErrNotExist,
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checks apply to what is read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key-encryption key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("key-encryption key file %s has mode %04o; it must be readable by its owner only (chmod 600)", path, perm)
	}
	// One buffer of fixed size, so that no copies of the key are left
	// behind in buffers that grew.
	buf := make([]byte, maxKEKFileSize+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		return nil, fmt.Errorf("key-encryption key file %s is larger than %d bytes; it is not a key file", path, maxKEKFileSize)
	case !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	k, err := ParseKEK(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	return k, nil
}

// detailError carries a message written for people and a sentinel for
// errors.Is, without the sentinel's own text in the message.
type detailError struct {
	msg string
	err error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.err }
