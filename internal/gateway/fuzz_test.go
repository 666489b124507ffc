package gateway

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCanonicalPath checks that CanonicalPath never panics and that what
// it accepts keeps its promises: the escaped form is a fixed point, net/url
// decodes it to the decided path, and the decided path has none of the
// refused shapes.
func FuzzCanonicalPath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		path, escaped, err := CanonicalPath(raw)
		if err != nil {
			if path != "" || escaped != "" {
				t.Fatalf("refused %q but returned %q, %q", raw, path, escaped)
			}
			return
		}
		checkCanonical(t, path, escaped)
		if !utf8.ValidString(path) || !strings.HasPrefix(path, "/") {
			t.Fatalf("accepted %q as %q", raw, path)
		}
		if strings.ContainsAny(path, "\\;\x00\r\n\x7f") {
			t.Fatalf("accepted %q as %q", raw, path)
		}
		segs := strings.Split(path[1:], "/")
		for i, s := range segs {
			if (s == "" && i < len(segs)-1) || (s != "" && strings.Trim(s, ".") == "") {
				t.Fatalf("accepted %q with segment %q", raw, s)
			}
		}
	})
}
