package audit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/secret"
)

const (
	tamperNode     = "gw-1"
	tamperSegments = 4
	tamperPerSeg   = 10
)

// tamperLog writes a log of four closed segments of ten records each:
// seq 1-10, 11-20, 21-30, 31-40.
func tamperLog(t *testing.T) (string, *secret.KEK) {
	t.Helper()
	dir := t.TempDir()
	kek := testKEK(t)
	for range tamperSegments {
		writeLog(t, Options{Dir: dir, Node: tamperNode, KEK: kek}, tamperPerSeg)
	}
	return dir, kek
}

func seg(i int) string { return segmentName(uint64(1 + tamperPerSeg*i)) }
func dig(i int) string { return digestName(uint64(1 + tamperPerSeg*i)) }

func segPath(dir string, i int) string { return filepath.Join(dir, tamperNode, segmentsDir, seg(i)) }
func digPath(dir string, i int) string { return filepath.Join(dir, tamperNode, digestsDir, dig(i)) }

// editLines rewrites a segment's lines.
func editLines(t *testing.T, dir string, i int, edit func([][]byte) [][]byte) {
	t.Helper()
	writeLines(t, segPath(dir, i), edit(readLines(t, segPath(dir, i))))
}

// rehash recomputes a line's hash from its own prev, seq and record.
func rehash(t *testing.T, l []byte, prev *[sha256.Size]byte) []byte {
	t.Helper()
	pl, err := parseLine(bytes.TrimSuffix(l, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	if prev != nil {
		pl.prev = *prev
	}
	sum := newChainHasher().sum(&pl.prev, pl.seq, pl.record)
	return appendLine(nil, pl.seq, &pl.prev, &sum, pl.record)
}

func lineOf(t *testing.T, l []byte) line {
	t.Helper()
	pl, err := parseLine(bytes.TrimSuffix(l, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// resign changes a digest and signs it again with the log's own key, as
// only ztgate could.
func resign(t *testing.T, dir string, kek *secret.KEK, i int, edit func(*Digest)) {
	t.Helper()
	k, err := loadOrCreateKey(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	resignWith(t, k, digPath(dir, i), edit)
}

func resignWith(t *testing.T, k *signingKey, path string, edit func(*Digest)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDigest(b)
	if err != nil {
		t.Fatal(err)
	}
	edit(d)
	if err := d.sign(k); err != nil {
		t.Fatal(err)
	}
	out, _ := d.encode()
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// attackerKey is a signing key that ztgate did not make, its public half
// written beside ztgate's.
func attackerKey(t *testing.T, dir string) *signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	id := keyID(der)
	if dir != "" {
		pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, keysDir, id+publicKeyExt), pub, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &signingKey{id: id, priv: priv}
}

func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyClean(t *testing.T) {
	dir, _ := tamperLog(t)
	rep := verifyDir(t, dir)
	mustClean(t, rep)
	if rep.Records != tamperSegments*tamperPerSeg || rep.Segments != tamperSegments || rep.Digests != tamperSegments || rep.Nodes != 1 {
		t.Errorf("report %+v", rep)
	}
}

// TestTamper makes each kind of change an attacker could make to the log
// and checks that verify reports it, by kind and file.
func TestTamper(t *testing.T) {
	segRel := func(i int) string { return tamperNode + "/segments/" + seg(i) }
	digRel := func(i int) string { return tamperNode + "/digests/" + dig(i) }
	tests := []struct {
		name     string
		tamper   func(t *testing.T, dir string, kek *secret.KEK)
		withKEK  bool   // verify with the key-encryption key
		kind     Kind   // a finding of this kind
		file     string // naming this file
		line     int    // and, when set, this line
		trustDir bool   // verify against a copy of the public keys made before tampering
	}{
		{
			name: "modify a byte in a record",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					l[2] = bytes.Replace(l[2], []byte(`"eventName":"GET"`), []byte(`"eventName":"PUT"`), 1)
					return l
				})
			},
			kind: ModifiedRecord, file: segRel(1), line: 3,
		},
		{
			name: "modify a byte of a line's hash",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					i := bytes.Index(l[4], []byte(`"hash":"`)) + len(`"hash":"`)
					if l[4][i] == 'a' {
						l[4][i] = 'b'
					} else {
						l[4][i] = 'a'
					}
					return l
				})
			},
			kind: ModifiedRecord, file: segRel(1), line: 5,
		},
		{
			name: "make a line unparseable",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					l[3] = append([]byte(" "), l[3]...)
					return l
				})
			},
			kind: ModifiedRecord, file: segRel(1), line: 4,
		},
		{
			name: "delete a line",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte { return append(l[:3:3], l[4:]...) })
			},
			kind: DeletedRecord, file: segRel(1), line: 4,
		},
		{
			name: "insert a copy of a line",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					out := append([][]byte{}, l[:6]...)
					out = append(out, l[1])
					return append(out, l[6:]...)
				})
			},
			kind: InsertedRecord, file: segRel(1), line: 7,
		},
		{
			name: "insert a forged line that links",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					prev := lineOf(t, l[2])
					rec := bytes.Replace(lineOf(t, l[3]).record, []byte(`"GET"`), []byte(`"DELETE"`), 1)
					sum := newChainHasher().sum(&prev.hash, prev.seq+1, rec)
					forged := appendLine(nil, prev.seq+1, &prev.hash, &sum, rec)
					out := append([][]byte{}, l[:3]...)
					out = append(out, forged)
					return append(out, l[3:]...)
				})
			},
			kind: InsertedRecord, file: segRel(1), line: 4,
		},
		{
			name: "swap two lines",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					l[4], l[5] = l[5], l[4]
					return l
				})
			},
			kind: ReorderedRecord, file: segRel(1), line: 5,
		},
		{
			name: "rewrite a record and its hash",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					l[2] = rehash(t, bytes.Replace(l[2], []byte(`"GET"`), []byte(`"PUT"`), 1), nil)
					return l
				})
			},
			kind: ModifiedRecord, file: segRel(1), line: 3,
		},
		{
			name: "rewrite the chain of a segment",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					l[2] = bytes.Replace(l[2], []byte(`"GET"`), []byte(`"PUT"`), 1)
					for i := 2; i < len(l); i++ {
						prev := lineOf(t, l[i-1]).hash
						l[i] = rehash(t, l[i], &prev)
					}
					return l
				})
			},
			kind: ModifiedSegment, file: segRel(1),
		},
		{
			name: "truncate a segment at a line",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte { return l[:7] })
			},
			kind: TruncatedSegment, file: segRel(1),
		},
		{
			name: "truncate a segment within a line",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				fi, _ := os.Stat(segPath(dir, 1))
				if err := os.Truncate(segPath(dir, 1), fi.Size()-100); err != nil {
					t.Fatal(err)
				}
			},
			kind: TruncatedSegment, file: segRel(1),
		},
		{
			name: "append a record to a closed segment",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editLines(t, dir, 1, func(l [][]byte) [][]byte {
					last := lineOf(t, l[len(l)-1])
					sum := newChainHasher().sum(&last.hash, last.seq+1, last.record)
					return append(l, appendLine(nil, last.seq+1, &last.hash, &sum, last.record))
				})
			},
			kind: InsertedRecord, file: segRel(1),
		},
		{
			name: "delete a segment",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				os.Remove(segPath(dir, 1))
			},
			kind: DeletedSegment, file: segRel(1),
		},
		{
			name: "delete a segment and its digest",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				os.Remove(segPath(dir, 1))
				os.Remove(digPath(dir, 1))
			},
			kind: DeletedSegment, file: segRel(2),
		},
		{
			name: "delete a segment and its digest: the digest is missing",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				os.Remove(segPath(dir, 1))
				os.Remove(digPath(dir, 1))
			},
			kind: MissingDigest, file: digRel(1),
		},
		{
			name: "delete the first segment and its digest",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				os.Remove(segPath(dir, 0))
				os.Remove(digPath(dir, 0))
			},
			kind: DeletedSegment, file: segRel(1),
		},
		{
			name: "forge a digest's signature",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editFile(t, digPath(dir, 1), func(b []byte) []byte {
					i := bytes.Index(b, []byte(`"signature": "`)) + len(`"signature": "`) + 10
					if b[i] == 'A' {
						b[i] = 'B'
					} else {
						b[i] = 'A'
					}
					return b
				})
			},
			kind: ForgedDigest, file: digRel(1),
		},
		{
			name: "alter a signed field of a digest",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editFile(t, digPath(dir, 1), func(b []byte) []byte {
					return bytes.Replace(b, []byte(`"closeReason": "shutdown"`), []byte(`"closeReason": "size"`), 1)
				})
			},
			kind: ForgedDigest, file: digRel(1),
		},
		{
			name: "make a digest unparseable",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				editFile(t, digPath(dir, 1), func(b []byte) []byte { return b[:len(b)/2] })
			},
			kind: ForgedDigest, file: digRel(1),
		},
		{
			name: "delete a digest",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				os.Remove(digPath(dir, 1))
			},
			kind: MissingDigest, file: digRel(1),
		},
		{
			name: "swap two digests",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				a, _ := os.ReadFile(digPath(dir, 1))
				b, _ := os.ReadFile(digPath(dir, 2))
				os.WriteFile(digPath(dir, 1), b, 0o600)
				os.WriteFile(digPath(dir, 2), a, 0o600)
			},
			kind: OutOfOrderDigest, file: digRel(1),
		},
		{
			name: "chain a digest to the wrong signature",
			tamper: func(t *testing.T, dir string, kek *secret.KEK) {
				first, _ := os.ReadFile(digPath(dir, 0))
				d0, _ := parseDigest(first)
				resign(t, dir, kek, 2, func(d *Digest) { d.PreviousSignature = d0.Signature })
			},
			kind: OutOfOrderDigest, file: digRel(2),
		},
		{
			name: "chain a digest to the wrong digest",
			tamper: func(t *testing.T, dir string, kek *secret.KEK) {
				resign(t, dir, kek, 2, func(d *Digest) { d.PreviousDigest = dig(0) })
			},
			kind: OutOfOrderDigest, file: digRel(2),
		},
		{
			name: "replace the public key",
			tamper: func(t *testing.T, dir string, kek *secret.KEK) {
				k, _ := loadOrCreateKey(dir, kek)
				other := attackerKey(t, "")
				der, _ := x509.MarshalPKIXPublicKey(&other.priv.PublicKey)
				pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				os.WriteFile(filepath.Join(dir, keysDir, k.id+publicKeyExt), pub, 0o600)
			},
			kind: UnknownKey, file: "keys/",
		},
		{
			name: "sign a digest with an unknown key",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				resignWith(t, attackerKey(t, ""), digPath(dir, 1), func(*Digest) {})
			},
			kind: UnknownKey, file: digRel(1),
		},
		{
			name: "sign with a key of one's own, the log's keys trusted",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				resignWith(t, attackerKey(t, dir), digPath(dir, 3), func(*Digest) {})
			},
			trustDir: true,
			kind:     UnknownKey, file: digRel(3),
		},
		{
			name: "sign with a key of one's own, checked against the KEK",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				resignWith(t, attackerKey(t, dir), digPath(dir, 3), func(*Digest) {})
			},
			withKEK: true,
			kind:    UnknownKey, file: digRel(3),
		},
		{
			name: "add a stray file",
			tamper: func(t *testing.T, dir string, _ *secret.KEK) {
				os.WriteFile(filepath.Join(dir, tamperNode, segmentsDir, "notes.txt"), []byte("x"), 0o600)
			},
			kind: UnexpectedFile, file: tamperNode + "/segments/notes.txt",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, kek := tamperLog(t)
			o := VerifyOptions{Dir: dir}
			if tc.trustDir {
				o.KeyDir = t.TempDir()
				ents, _ := os.ReadDir(filepath.Join(dir, keysDir))
				for _, e := range ents {
					if strings.HasSuffix(e.Name(), publicKeyExt) {
						b, _ := os.ReadFile(filepath.Join(dir, keysDir, e.Name()))
						os.WriteFile(filepath.Join(o.KeyDir, e.Name()), b, 0o600)
					}
				}
			}
			if tc.withKEK {
				o.KEK = kek
			}
			tc.tamper(t, dir, kek)
			rep, err := Verify(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range rep.Findings {
				t.Log(f)
				if f.Kind == tc.kind && strings.HasPrefix(f.File, tc.file) && (tc.line == 0 || f.Line == tc.line) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s finding for %s (line %d)", tc.kind, tc.file, tc.line)
			}
			if tc.kind.Severity() == SeverityError && rep.OK(false) {
				t.Error("the report is OK")
			}
			if !rep.OK(false) && rep.Errors() == 0 {
				t.Error("not OK without errors")
			}
			if rep.OK(true) {
				t.Error("the report is OK under --strict")
			}
		})
	}
}

// TestVerifyTimeRange reads only the segments in range, and still the
// digests.
func TestVerifyTimeRange(t *testing.T) {
	dir, _ := tamperLog(t)
	d1 := readDigest(t, dir, tamperNode, dig(1))
	earliest, latest := d1.eventTimes()
	rep, err := Verify(context.Background(), VerifyOptions{Dir: dir, From: earliest, To: latest})
	if err != nil {
		t.Fatal(err)
	}
	mustClean(t, rep)
	if rep.Segments != 1 || rep.Records != tamperPerSeg || rep.Digests != tamperSegments {
		t.Errorf("segments %d, records %d, digests %d; want 1, %d, %d", rep.Segments, rep.Records, rep.Digests, tamperPerSeg, tamperSegments)
	}
	// Damage outside the range is not read.
	editLines(t, dir, 3, func(l [][]byte) [][]byte { return l[:2] })
	rep, _ = Verify(context.Background(), VerifyOptions{Dir: dir, From: earliest, To: latest})
	mustClean(t, rep)
}

func TestVerifyUnreadable(t *testing.T) {
	if _, err := Verify(context.Background(), VerifyOptions{Dir: filepath.Join(t.TempDir(), "none")}); err == nil {
		t.Error("Verify of a missing directory succeeded")
	}
	dir, _ := tamperLog(t)
	if _, err := Verify(context.Background(), VerifyOptions{Dir: dir, Node: "other"}); err == nil {
		t.Error("Verify of a missing node succeeded")
	}
}

func TestVerifyProgress(t *testing.T) {
	dir, _ := tamperLog(t)
	var last Progress
	calls := 0
	_, err := Verify(context.Background(), VerifyOptions{Dir: dir, Progress: func(p Progress) { last = p; calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || !last.Done || last.Bytes != last.TotalBytes || last.Records != tamperSegments*tamperPerSeg {
		t.Errorf("last progress %+v after %d calls", last, calls)
	}
}
