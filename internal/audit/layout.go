package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ztgate/ztgate/internal/datadir"
)

// Names within the audit directory; see the package documentation.
const (
	keysDir     = "keys"
	segmentsDir = "segments"
	digestsDir  = "digests"
	lockName    = "writer.lock"
	activeName  = "active"

	segmentExt = ".jsonl"
	digestExt  = ".digest.json"
	tornExt    = ".torn"

	seqDigits = 20
)

// segmentName is the file name of the segment whose first record is seq.
func segmentName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, segmentExt) }

// digestName is the file name of the digest of the segment starting at seq.
func digestName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, digestExt) }

// tornName is the file holding the bytes cut from the segment starting at
// seq at offset off.
func tornName(seq uint64, off int64) string {
	return fmt.Sprintf("%020d%s.%d%s", seq, segmentExt, off, tornExt)
}

// parseSeqName returns the sequence number a file name starts with, when
// the rest of the name is ext.
func parseSeqName(name, ext string) (uint64, bool) {
	if len(name) != seqDigits+len(ext) || !strings.HasSuffix(name, ext) {
		return 0, false
	}
	for _, c := range name[:seqDigits] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(name[:seqDigits], 10, 64)
	return n, err == nil
}

// parseTornName parses a torn-tail evidence file name.
func parseTornName(name string) (seq uint64, off int64, ok bool) {
	if !strings.HasSuffix(name, tornExt) || len(name) < seqDigits+len(segmentExt)+1+len(tornExt)+1 {
		return 0, 0, false
	}
	seq, ok = parseSeqName(name[:seqDigits+len(segmentExt)], segmentExt)
	if !ok || name[seqDigits+len(segmentExt)] != '.' {
		return 0, 0, false
	}
	digits := name[seqDigits+len(segmentExt)+1 : len(name)-len(tornExt)]
	off, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || off < 0 || strconv.FormatInt(off, 10) != digits {
		return 0, 0, false
	}
	return seq, off, true
}

// errNodeName classifies an unusable node name.
var errNodeName = errors.New("invalid node name")

// checkNode checks a node name: it becomes a directory name, so it is
// limited as the configuration limits it (up to 63 letters, digits, dots,
// underscores and hyphens), and it may not be "keys", the directory of
// signing keys beside the node directories.
func checkNode(node string) error {
	if node == "" || len(node) > 63 || node == keysDir || strings.Trim(node, ".") == "" {
		return fmt.Errorf("%w %q", errNodeName, node)
	}
	for _, c := range node {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w %q", errNodeName, node)
		}
	}
	return nil
}

// mkdirs creates directories owner-only, syncing each parent that gained
// an entry.
func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := datadir.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes an owner-only file atomically and durably.
func writeFileAtomic(path string, data []byte) error {
	return datadir.WriteFile(path, data, 0o600)
}
