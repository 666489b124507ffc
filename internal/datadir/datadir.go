// Package datadir lays out ztgate's data directory: the configuration, the
// key-encryption key, the embedded database, the control socket, the file
// naming the address the node listens on, and the lock that keeps two
// processes from sharing one directory.
package datadir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/config"
	"github.com/ztgate/ztgate/internal/secret"
)

// Default is the data directory used when none is given.
const Default = "./ztgate-data"

// Dir is a data directory.
type Dir string

// Abs returns the directory as an absolute path.
func Abs(path string) (Dir, error) {
	if path == "" {
		path = Default
	}
	p, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return Dir(p), nil
}

// Path returns a file inside the directory.
func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// Resolve returns p, taken relative to the directory when it is relative.
func (d Dir) Resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return d.Path(p)
}

// Files within a data directory.
func (d Dir) Config() string     { return d.Path("config.yaml") }
func (d Dir) ListenAddr() string { return d.Path("listen.addr") }
func (d Dir) Socket() string     { return d.Path("ztgate.sock") }
func (d Dir) lockFile() string   { return d.Path("ztgate.lock") }

// Create makes the directory, owner-only, if it does not exist.
func (d Dir) Create() error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// Exists reports whether the directory exists.
func (d Dir) Exists() bool {
	fi, err := os.Stat(string(d))
	return err == nil && fi.IsDir()
}

// ErrInUse: another process holds the directory's lock.
var ErrInUse = errors.New("data directory is in use by another ztgate process")

// Lock takes the directory's exclusive lock for the life of the process.
// The embedded database and the in-process change feed assume a single
// process per directory.
func (d Dir) Lock() (release func(), err error) {
	f, err := os.OpenFile(d.lockFile(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(d.lockFile())
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w (pid %s)", d, ErrInUse, strings.TrimSpace(string(pid)))
		}
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// WriteFile writes a file atomically (a temporary file renamed into place,
// then the directory synced), so a reader never sees part of it and a
// crash never loses it once WriteFile has returned.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a directory's entries (a file created, renamed or
// removed) durable.
func SyncDir(dir string) error {
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

// EnsureKEK creates the key-encryption key file when it is missing and
// ZTGATE_KEK is not set. It reports whether it created one.
func EnsureKEK(path string) (bool, error) {
	if os.Getenv("ZTGATE_KEK") != "" {
		return false, nil
	}
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	k, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		return false, err
	}
	if err := secret.WriteKEKFile(path, k); err != nil {
		return false, err
	}
	return true, nil
}

// Init creates a data directory holding a commented example configuration
// and a new key-encryption key. It never overwrites either.
func Init(path string) (Dir, error) {
	d, err := Abs(path)
	if err != nil {
		return "", err
	}
	for _, f := range []string{d.Config(), d.Path("kek.key")} {
		if _, err := os.Stat(f); err == nil {
			return "", fmt.Errorf("%s already exists; not overwriting it", f)
		}
	}
	if err := d.Create(); err != nil {
		return "", err
	}
	if err := WriteFile(d.Config(), []byte(config.Example()), 0o600); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	k, err := secret.GenerateKEK(rand.Reader)
	if err != nil {
		return "", err
	}
	if err := secret.WriteKEKFile(d.Path("kek.key"), k); err != nil {
		return "", err
	}
	return d, nil
}

// InitCommand returns "ztgate init".
func InitCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Create a data directory with an example configuration and a new key-encryption key",
		Long: `Create a data directory (default ` + Default + `) holding config.yaml, a commented
example of every setting, and kek.key, a new key-encryption key (mode 0600)
that seals every secret ztgate stores. Existing files are never overwritten.

Keep kek.key safe and backed up apart from the database: without it, the
secrets in the database cannot be read. To keep it out of the directory,
move it elsewhere and point keys.kek_file at it, or set ZTGATE_KEK.`,
		Example: "  ztgate init /var/lib/ztgate\n  ztgate serve --data-dir /var/lib/ztgate",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := Default
			if len(args) == 1 {
				path = args[0]
			}
			d, err := Init(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created %s\n  config:                 %s\n  key-encryption key:     %s (keep it secret, back it up)\nStart with:\n  ztgate serve --data-dir %s\n",
				d, d.Config(), d.Path("kek.key"), d)
			return nil
		},
	}
}
