package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSigningKeyOfAnotherKEK: a signing key sealed under another
// key-encryption key (a start given a wrong one, say) stops the writer
// with how to recover; following it, a new key is made and the log, old
// digests included, verifies.
func TestSigningKeyOfAnotherKEK(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, Options{Dir: dir, Node: "n1", KEK: testKEK(t)}, 3) // a wrong key
	o := Options{Dir: dir, Node: "n1", KEK: testKEK(t)}            // the right one
	_, err := Open(o)
	active := filepath.Join(dir, keysDir, activeName)
	if err == nil || !strings.Contains(err.Error(), "remove "+active) {
		t.Fatalf("Open with another key-encryption key: %v", err)
	}
	if err := os.Remove(active); err != nil {
		t.Fatal(err)
	}
	writeLog(t, o, 3)
	mustClean(t, verifyDir(t, dir))
}
