package secret

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "write missing golden files in testdata")

// chacha returns a deterministic random source for seal.
func chacha(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[31] = seed
	return rand.NewChaCha8(s)
}

func TestSealOpen(t *testing.T) {
	k, _ := testKEK(t, 1)
	for _, tt := range []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"empty", nil, nil},
		{"one byte", []byte{0}, nil},
		{"secret", []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), []byte("access_keys/AKIA1/secret")},
		{"64 bytes", bytes.Repeat([]byte{0xa5}, 64), []byte("aad")},
		{"1 MiB", bytes.Repeat([]byte("0123456789abcdef"), 1<<16), []byte("big")},
		{"empty with aad", []byte{}, []byte("aad")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := Seal(k, tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(sealed), len(tt.plaintext)+Overhead; got != want {
				t.Errorf("sealed length = %d, want %d", got, want)
			}
			if len(tt.plaintext) >= 8 && bytes.Contains(sealed, tt.plaintext[:8]) {
				t.Error("sealed value contains the plaintext")
			}
			got, err := Open(k, sealed, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Error("Open returned other plaintext")
			}

			again, err := Seal(k, tt.plaintext, tt.aad)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(again, sealed) {
				t.Error("two seals of the same plaintext are equal")
			}
			if bytes.Equal(again[wrappedOff:payNonceOff], sealed[wrappedOff:payNonceOff]) {
				t.Error("two seals share a wrapped data key")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	k, _ := testKEK(t, 1)
	other, _ := testKEK(t, 2)
	sealed, err := Seal(k, []byte("secret"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	sealed2, err := Seal(k, []byte("terces"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	swapped := bytes.Clone(sealed)
	copy(swapped[wrapNonceOff:payNonceOff], sealed2[wrapNonceOff:payNonceOff])
	v2 := bytes.Clone(sealed)
	v2[1] = 2

	for _, tt := range []struct {
		name    string
		k       *KEK
		sealed  []byte
		aad     []byte
		want    error
		wantMsg string // empty to skip the message check
	}{
		{name: "wrong key", k: other, sealed: sealed, aad: []byte("aad"), want: ErrWrongKey,
			wantMsg: "sealed with key-encryption key " + k.ID() + ", not " + other.ID()},
		{name: "other aad", k: k, sealed: sealed, aad: []byte("aae"), want: ErrCorrupt,
			wantMsg: "ciphertext is corrupt or was altered"},
		{name: "missing aad", k: k, sealed: sealed, aad: nil, want: ErrCorrupt},
		{name: "empty", k: k, sealed: nil, aad: []byte("aad"), want: ErrCorrupt,
			wantMsg: "ciphertext is corrupt or was altered: 0 bytes is shorter than the smallest sealed value (98)"},
		{name: "not sealed", k: k, sealed: []byte("plain old text, not sealed at all, plain old text, not sealed at all, plain old text, not sealed"), want: ErrCorrupt,
			wantMsg: "ciphertext is corrupt or was altered: it is not a sealed value"},
		{name: "other version", k: k, sealed: v2, aad: []byte("aad"), want: ErrCorrupt,
			wantMsg: "ciphertext is corrupt or was altered: unknown format version 2"},
		{name: "swapped data key", k: k, sealed: swapped, aad: []byte("aad"), want: ErrCorrupt},
		{name: "extended", k: k, sealed: append(bytes.Clone(sealed), 0), aad: []byte("aad"), want: ErrCorrupt},
		{name: "nil key", k: nil, sealed: sealed, aad: []byte("aad")},
		{name: "zero key", k: &KEK{}, sealed: sealed, aad: []byte("aad")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Open(tt.k, tt.sealed, tt.aad)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if got != nil {
				t.Errorf("Open returned %d bytes with its error", len(got))
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q does not match %q", err, tt.want)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("error = %q, want %q", err, tt.wantMsg)
			}
		})
	}

	if _, err := Seal(nil, []byte("x"), nil); err == nil {
		t.Error("Seal with a nil key succeeded")
	}
}

// Every single-bit change of a sealed value must be refused: a change to
// the KEK id as a wrong key, any other as corruption.
func TestOpenBitFlips(t *testing.T) {
	k, _ := testKEK(t, 1)
	aad := []byte("aad")
	sealed, err := Seal(k, []byte("a secret of some length"), aad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(sealed) * 8 {
		flipped := bytes.Clone(sealed)
		flipped[i/8] ^= 1 << (i % 8)
		want := ErrCorrupt
		if off := i / 8; off >= idOff && off < idOff+idSize {
			want = ErrWrongKey
		}
		got, err := Open(k, flipped, aad)
		if !errors.Is(err, want) || got != nil {
			t.Errorf("bit %d (byte %d) flipped: Open = %d bytes, %v; want nil, %v", i, i/8, len(got), err, want)
		}
	}
}

func TestOpenTruncated(t *testing.T) {
	k, _ := testKEK(t, 1)
	sealed, err := Seal(k, []byte("a secret of some length"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(sealed) {
		got, err := Open(k, sealed[:n], nil)
		if !errors.Is(err, ErrCorrupt) || got != nil {
			t.Errorf("truncated to %d bytes: Open = %d bytes, %v; want nil, %v", n, len(got), err, ErrCorrupt)
		}
	}
	// Truncation from the front, too.
	for n := 1; n < len(sealed); n++ {
		got, err := Open(k, sealed[n:], nil)
		if err == nil || got != nil {
			t.Errorf("first %d bytes cut: Open = %d bytes, %v; want an error", n, len(got), err)
		}
	}
}

// TestGolden keeps values sealed by this version opening in later ones.
// The golden file is written once, with -update, when missing; when the
// format changes, add a file for the new version and keep this one.
func TestGolden(t *testing.T) {
	k, err := ParseKEK([]byte("ztgate-kek-v1:3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8=\n"))
	if err != nil {
		t.Fatal(err)
	}
	plaintext, aad := []byte("golden secret"), []byte("golden aad")
	path := filepath.Join("testdata", "sealed-v1.hex")

	sealed, err := seal(k, chacha(1), plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			if err := os.WriteFile(path, []byte(hex.EncodeToString(sealed)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(k, golden, aad)
	if err != nil {
		t.Fatalf("golden value does not open: %v", err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Errorf("golden value opens to %q, want %q", got, plaintext)
	}
	if !bytes.Equal(sealed, golden) {
		t.Errorf("seal with fixed randomness = %x, want %x (the format changed)", sealed, golden)
	}
}

func TestCheck(t *testing.T) {
	k, _ := testKEK(t, 1)
	other, _ := testKEK(t, 2)
	check, err := NewCheck(k)
	if err != nil {
		t.Fatal(err)
	}
	notCheck, err := Seal(k, []byte("something else"), checkAAD)
	if err != nil {
		t.Fatal(err)
	}
	otherAAD, err := Seal(k, checkText, []byte("other"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(check)
	corrupt[len(corrupt)-1] ^= 1

	for _, tt := range []struct {
		name    string
		k       *KEK
		check   []byte
		want    error
		wantMsg string
	}{
		{name: "right key", k: k, check: check},
		{name: "wrong key", k: other, check: check, want: ErrWrongKey,
			wantMsg: "the key-encryption key (id " + other.ID() + ") is not the one this data directory was sealed with (id " + k.ID() + ")"},
		{name: "corrupt", k: k, check: corrupt, want: ErrCorrupt,
			wantMsg: "key check value: ciphertext is corrupt or was altered"},
		{name: "missing", k: k, check: nil, want: ErrCorrupt},
		{name: "other value", k: k, check: notCheck, want: ErrCorrupt,
			wantMsg: "key check value: ciphertext is corrupt or was altered: it holds an unexpected value"},
		{name: "other aad", k: k, check: otherAAD, want: ErrCorrupt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyCheck(tt.k, tt.check)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyCheck = %v, want an error matching %v", err, tt.want)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("error = %q, want %q", err, tt.wantMsg)
			}
		})
	}
}

// TestAllocs holds Seal and Open to their allocation budgets: the result,
// the data key's AES and GCM state, and the data key itself, which moves to
// the heap because it passes through interfaces.
func TestAllocs(t *testing.T) {
	k, _ := testKEK(t, 1)
	plaintext := bytes.Repeat([]byte{0x5a}, 64)
	aad := []byte("aad")
	sealed, err := Seal(k, plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		budget float64
		f      func()
	}{
		{"Seal", 4, func() { Seal(k, plaintext, aad) }},
		{"Open", 4, func() { Open(k, sealed, aad) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.f); n > tt.budget {
				t.Errorf("%s allocates %v times, budget %v", tt.name, n, tt.budget)
			}
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	k, _ := testKEK(b, 1)
	plaintext := bytes.Repeat([]byte{0x5a}, 64)
	aad := []byte("access_keys/AKIAEXAMPLE/secret")
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(k, plaintext, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k, _ := testKEK(b, 1)
	plaintext := bytes.Repeat([]byte{0x5a}, 64)
	aad := []byte("access_keys/AKIAEXAMPLE/secret")
	sealed, err := Seal(k, plaintext, aad)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(k, sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}
