package secret

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestWriteKEKFile(t *testing.T) {
	k, key := testKEK(t, 1)
	path := filepath.Join(t.TempDir(), "kek.key")
	if err := WriteKEKFile(path, k); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("key file has mode %04o, want 0600", fi.Mode().Perm())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ztgate-kek-v1:" + base64.StdEncoding.EncodeToString(key) + "\n"; string(text) != want {
		t.Errorf("key file holds %q, want %q", text, want)
	}
	got, err := LoadKEKFrom(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(k) {
		t.Error("loaded key differs from the written one")
	}

	// A second write must leave the first key in place.
	other, _ := testKEK(t, 2)
	err = WriteKEKFile(path, other)
	want := "key-encryption key file " + path + " already exists; refusing to overwrite it"
	if err == nil || err.Error() != want {
		t.Errorf("second WriteKEKFile = %v, want %q", err, want)
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("error %v does not match fs.ErrExist", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(text) {
		t.Error("second WriteKEKFile changed the key file")
	}

	if err := WriteKEKFile(filepath.Join(t.TempDir(), "nil.key"), nil); err == nil {
		t.Error("WriteKEKFile(nil) succeeded")
	}
	missingDir := filepath.Join(t.TempDir(), "absent", "kek.key")
	if err := WriteKEKFile(missingDir, k); err == nil {
		t.Error("WriteKEKFile into a missing directory succeeded")
	}
}

// WriteKEKFile sets the mode itself, so a umask that would strip the
// owner's bits does not matter.
func TestWriteKEKFileUmask(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no umask")
	}
	old := setUmask(0o277)
	defer setUmask(old)
	k, _ := testKEK(t, 1)
	path := filepath.Join(t.TempDir(), "kek.key")
	if err := WriteKEKFile(path, k); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file has mode %04o, want 0600", fi.Mode().Perm())
	}
}

func noEnv(string) string { return "" }

func env(v string) func(string) string {
	return func(name string) string {
		if name == EnvKEK {
			return v
		}
		return ""
	}
}

func TestLoadKEKFile(t *testing.T) {
	k, key := testKEK(t, 1)
	b64 := base64.StdEncoding.EncodeToString(key)
	enc, _ := EncodeKEK(k)

	for _, tt := range []struct {
		name    string
		content string
		mode    fs.FileMode
		wantErr string // with PATH for the file's path; empty for success
	}{
		{name: "good", content: string(enc), mode: 0o600},
		{name: "owner read only", content: string(enc), mode: 0o400},
		{name: "no newline", content: strings.TrimSpace(string(enc)), mode: 0o600},
		{name: "mode 0644", content: string(enc), mode: 0o644,
			wantErr: "key-encryption key file PATH has mode 0644; it must be readable by its owner only (chmod 600)"},
		{name: "mode 0640", content: string(enc), mode: 0o640,
			wantErr: "key-encryption key file PATH has mode 0640; it must be readable by its owner only (chmod 600)"},
		{name: "mode 0604", content: string(enc), mode: 0o604,
			wantErr: "key-encryption key file PATH has mode 0604; it must be readable by its owner only (chmod 600)"},
		{name: "group writable", content: string(enc), mode: 0o620,
			wantErr: "key-encryption key file PATH has mode 0620; it must be readable by its owner only (chmod 600)"},
		{name: "empty", content: "", mode: 0o600,
			wantErr: "key-encryption key file PATH: malformed key-encryption key: it is empty"},
		{name: "bare base64", content: b64 + "\n", mode: 0o600,
			wantErr: `key-encryption key file PATH: malformed key-encryption key: it does not start with "ztgate-kek-v1:"`},
		{name: "wrong prefix", content: "ztgate-kek:" + b64 + "\n", mode: 0o600,
			wantErr: `key-encryption key file PATH: malformed key-encryption key: it does not start with "ztgate-kek-v1:"`},
		{name: "bad base64", content: "ztgate-kek-v1:" + b64[:43] + "%\n", mode: 0o600,
			wantErr: "key-encryption key file PATH: malformed key-encryption key: the key is not valid base64 (standard alphabet, padded)"},
		{name: "wrong length", content: "ztgate-kek-v1:" + base64.StdEncoding.EncodeToString(key[:24]) + "\n", mode: 0o600,
			wantErr: "key-encryption key file PATH: malformed key-encryption key: the key is 24 bytes, want 32"},
		{name: "two keys", content: string(enc) + string(enc), mode: 0o600,
			wantErr: "key-encryption key file PATH: malformed key-encryption key: it spans more than one line"},
		{name: "too large", content: string(enc) + strings.Repeat(" ", 5000), mode: 0o600,
			wantErr: "key-encryption key file PATH is larger than 4096 bytes; it is not a key file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek.key")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			got, err := LoadKEKFrom(path, noEnv)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(k) {
					t.Error("loaded a different key")
				}
				return
			}
			if runtime.GOOS == "windows" && strings.Contains(tt.wantErr, "mode") {
				t.Skip("mode bits are not checked on Windows")
			}
			want := strings.ReplaceAll(tt.wantErr, "PATH", path)
			if err == nil || err.Error() != want {
				t.Fatalf("LoadKEKFrom = %v, want %q", err, want)
			}
			assertNoLeak(t, "error", err.Error(), key)
		})
	}
}

func TestLoadKEKFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "kek.key")
	_, err := LoadKEKFrom(missing, noEnv)
	want := `key-encryption key file ` + missing + `: no such file; restore it from its backup or set ZTGATE_KEK (a new key cannot open what this one sealed), or, for a new data directory, run "ztgate init"`
	if err == nil || err.Error() != want {
		t.Errorf("missing file: LoadKEKFrom = %v, want %q", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v does not match fs.ErrNotExist", err)
	}

	_, err = LoadKEKFrom(dir, noEnv)
	want = "key-encryption key file " + dir + " is not a regular file"
	if err == nil || err.Error() != want {
		t.Errorf("directory: LoadKEKFrom = %v, want %q", err, want)
	}

	_, err = LoadKEKFrom("", noEnv)
	want = "no key-encryption key: ZTGATE_KEK is unset and no key file is configured"
	if err == nil || err.Error() != want {
		t.Errorf("no path: LoadKEKFrom = %v, want %q", err, want)
	}
}

func TestLoadKEKEnv(t *testing.T) {
	fileKEK, _ := testKEK(t, 1)
	envKEK, envKey := testKEK(t, 2)
	envText, _ := EncodeKEK(envKEK)
	envB64 := base64.StdEncoding.EncodeToString(envKey)

	dir := t.TempDir()
	good := filepath.Join(dir, "kek.key")
	if err := WriteKEKFile(good, fileKEK); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.key")

	for _, tt := range []struct {
		name    string
		path    string
		getenv  func(string) string
		want    *KEK
		wantErr string
	}{
		{name: "file only", path: good, getenv: noEnv, want: fileKEK},
		{name: "nil getenv", path: good, getenv: nil, want: fileKEK},
		{name: "empty env", path: good, getenv: env(""), want: fileKEK},
		{name: "env over file", path: good, getenv: env(string(envText)), want: envKEK},
		{name: "bare env over file", path: good, getenv: env(envB64), want: envKEK},
		{name: "env without file", path: missing, getenv: env(envB64), want: envKEK},
		{name: "env without path", path: "", getenv: env(envB64), want: envKEK},
		{name: "malformed env, good file", path: good, getenv: env(envB64[:41]),
			wantErr: "ZTGATE_KEK: malformed key-encryption key: the key is not valid base64 (standard alphabet, padded)"},
		{name: "short env", path: good, getenv: env(base64.StdEncoding.EncodeToString(envKey[:16])),
			wantErr: "ZTGATE_KEK: malformed key-encryption key: the key is 16 bytes, want 32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadKEKFrom(tt.path, tt.getenv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("LoadKEKFrom = %v, want %q", err, tt.wantErr)
				}
				assertNoLeak(t, "error", err.Error(), envKey)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("loaded %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadKEKProcessEnv(t *testing.T) {
	k, key := testKEK(t, 3)
	t.Setenv(EnvKEK, base64.StdEncoding.EncodeToString(key))
	got, err := LoadKEK(filepath.Join(t.TempDir(), "missing.key"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(k) {
		t.Error("LoadKEK did not read ZTGATE_KEK")
	}
}
