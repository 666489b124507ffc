package workload

import (
	"os"
	"testing"
)

func TestParseStartTime(t *testing.T) {
	const tail = " S 1 1 1 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 1 0 987654 12345678 100 18446744073709551615"
	for name, tc := range map[string]struct {
		stat string
		want uint64
		ok   bool
	}{
		"plain":                 {"42 (agent)" + tail + "\n", 987654, true},
		"spaces and parens":     {"42 (a) b) (c)" + tail, 987654, true},
		"name looks like stats": {"42 (x) S 1 1 1 0 -1 1 1 1 1 1 1 1 1 1 1 1 1 1 7 7)" + tail, 987654, true},
		"no name":               {"42 agent" + tail, 0, false},
		"close before open":     {"42 )agent(" + tail, 0, false},
		"truncated":             {"42 (agent) S 1 1 1", 0, false},
		"not a number":          {"42 (agent) S 1 1 1 0 -1 1 1 1 1 1 1 1 1 1 1 1 1 1 x", 0, false},
		"empty":                 {"", 0, false},
	} {
		got, err := parseStartTime([]byte(tc.stat))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: %d, %v; want %d ok=%v", name, got, err, tc.want, tc.ok)
		}
	}

	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	if n, err := parseStartTime(b); err != nil || n == 0 {
		t.Fatalf("own stat: %d, %v", n, err)
	}
}
