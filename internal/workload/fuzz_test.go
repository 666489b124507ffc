package workload

import (
	"bytes"
	"strconv"
	"testing"
)

// FuzzParseSelector: selectors arrive in configuration and from the
// server. Whatever parses must print back to exactly its input (so a
// selector cannot silently mean something else than it reads) and be of a
// kind attestation produces.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"unix:uid:0", "unix:gid:4294967294", "unix:user:alice", "unix:group:wheel", "unix:path:/usr/bin/x", "unix:uid:01", "unix:path:/a/../b", "unix:user:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		if sel.String() != s {
			t.Fatalf("%q printed as %q", s, sel.String())
		}
		again, err := ParseSelector(sel.String())
		if err != nil || again != sel {
			t.Fatalf("%q does not reparse: %v", s, err)
		}
		switch sel.Kind {
		case KindUID, KindGID:
			if _, err := strconv.ParseUint(sel.Value, 10, 32); err != nil {
				t.Fatalf("%q: id %v", s, err)
			}
		case KindUser, KindGroup, KindPath:
		default:
			t.Fatalf("%q: kind %q", s, sel.Kind)
		}
	})
}

// FuzzParseStartTime: the process name in /proc/PID/stat is chosen by the
// workload (prctl PR_SET_NAME), the very party attestation must not trust.
// No name may shift the fields.
func FuzzParseStartTime(f *testing.F) {
	f.Add([]byte("agent"), uint64(987654))
	f.Add([]byte("a) S 1 2 3 (b"), uint64(1))
	f.Add([]byte(") ) )"), uint64(0))
	f.Fuzz(func(t *testing.T, name []byte, start uint64) {
		// The kernel keeps at most 15 bytes and no NUL; the parser must
		// not rely on either.
		stat := []byte("42 (")
		stat = append(stat, name...)
		stat = append(stat, ") S 1 1 1 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 1 0 "...)
		stat = strconv.AppendUint(stat, start, 10)
		stat = append(stat, " 12345678 100\n"...)
		got, err := parseStartTime(stat)
		if err != nil || got != start {
			t.Fatalf("name %q: %d, %v; want %d", name, got, err, start)
		}
		// And arbitrary bytes never panic.
		parseStartTime(bytes.TrimPrefix(name, []byte("42")))
	})
}
