package gateway

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// pathCases are the path tricks, one per case: what CanonicalPath must do
// with each, and what a request with it must get from a gateway whose
// policy allows only /public/ (status 0: refused before any decision).
var pathCases = []struct {
	name    string
	raw     string
	path    string // decided; "" when refused
	escaped string // sent upstream
	status  int    // through the gateway: 200 forwarded, 403 denied, 400 refused
}{
	// Plain paths.
	{"allowed", "/public/a", "/public/a", "/public/a", 200},
	{"outside the allowed prefix", "/private", "/private", "/private", 403},
	{"trailing slash", "/public/", "/public/", "/public/", 200},
	{"prefix without its slash", "/public", "/public", "/public", 403},
	{"sibling with the prefix as a stem", "/publicity", "/publicity", "/publicity", 403},
	{"root", "/", "/", "/", 403},

	// Dot segments, raw and encoded.
	{"dot-dot", "/public/../private", "", "", 400},
	{"dot", "/public/./a", "", "", 400},
	{"trailing dot-dot", "/public/..", "", "", 400},
	{"trailing dot", "/public/.", "", "", 400},
	{"three dots", "/public/.../private", "", "", 400},
	{"encoded dot-dot lower", "/public/%2e%2e/private", "", "", 400},
	{"encoded dot-dot upper", "/public/%2E%2E/private", "", "", 400},
	{"encoded dot-dot mixed case", "/public/%2e%2E/private", "", "", 400},
	{"half-encoded dot-dot", "/public/.%2e/private", "", "", 400},
	{"other half-encoded dot-dot", "/public/%2e./private", "", "", 400},
	{"encoded dot", "/public/%2e/a", "", "", 400},
	{"encoded dots in a name are fine", "/public/a%2Etxt", "/public/a.txt", "/public/a.txt", 200},
	{"a trailing dot on a name is kept", "/public/admin.", "/public/admin.", "/public/admin.", 200},
	{"dots in a name are fine", "/public/..a/b..", "/public/..a/b..", "/public/..a/b..", 200},

	// Separators.
	{"encoded slash lower", "/public%2f..%2fprivate", "", "", 400},
	{"encoded slash upper", "/public%2F..%2Fprivate", "", "", 400},
	{"encoded slash alone", "/public/a%2fb", "", "", 400},
	{"encoded backslash lower", "/public/..%5cprivate", "", "", 400},
	{"encoded backslash upper", "/public/..%5Cprivate", "", "", 400},
	{"backslash", `/public\..\private`, "", "", 400},
	{"double slash", "/public//a", "", "", 400},
	{"leading double slash", "//public/a", "", "", 400},
	{"trailing double slash", "/public/a//", "", "", 400},

	// Path parameters (servlet containers drop ";…" from each segment).
	{"semicolon dot-dot", "/public/..;/private", "", "", 400},
	{"semicolon parameter", "/private;x=/public/", "", "", 400},
	{"encoded semicolon", "/public/..%3b/private", "", "", 400},

	// Percent-encoding.
	{"invalid escape", "/public/%zz", "", "", 400},
	{"truncated escape", "/public/%4", "", "", 400},
	{"lone percent", "/public/%", "", "", 400},
	{"double-encoded dot-dot", "/public/%252e%252e/private", "", "", 400},
	{"double-encoded slash", "/public/..%252fprivate", "", "", 400},
	{"IIS %u escape", "/public/%u002e%u002e/private", "", "", 400},
	{"encoded percent not before hex", "/public/100%25off", "/public/100%off", "/public/100%25off", 200},
	{"unreserved letter encoded", "/public/%41", "/public/A", "/public/A", 200},
	{"unreserved letter encoded lower", "/public/%7euser", "/public/~user", "/public/~user", 200},
	{"encoded letters reaching a denied path", "/%70rivate", "/private", "/private", 403},
	{"encoded letters reaching the allowed path", "/%70ublic/x", "/public/x", "/public/x", 200},
	{"space", "/public/a%20b", "/public/a b", "/public/a%20b", 200},
	{"encoded question mark", "/public/a%3Fb", "/public/a?b", "/public/a%3Fb", 200},
	{"encoded hash", "/public/a%23b", "/public/a#b", "/public/a%23b", 200},
	{"sub-delimiters stay", "/public/a!$&'()*+,=:@b", "/public/a!$&'()*+,=:@b", "/public/a!$&'()*+,=:@b", 200},
	{"encoded sub-delimiters are sent raw", "/public/%21%40", "/public/!@", "/public/!@", 200},
	{"other characters are sent encoded", "/public/a|b^c", "/public/a|b^c", "/public/a%7Cb%5Ec", 200},

	// Control characters.
	{"encoded NUL", "/public/a%00", "", "", 400},
	{"encoded newline", "/public/a%0aSet-Cookie:x", "", "", 400},
	{"encoded carriage return", "/public/a%0d", "", "", 400},
	{"encoded tab", "/public/a%09", "", "", 400},
	{"encoded DEL", "/public/a%7f", "", "", 400},
	{"encoded C1 (NEL)", "/public/a%c2%85", "", "", 400},

	// UTF-8.
	{"invalid UTF-8", "/public/%ff", "", "", 400},
	{"truncated UTF-8", "/public/%c3", "", "", 400},
	{"overlong slash", "/public/..%c0%afprivate", "", "", 400},
	{"overlong dots", "/public/%c0%ae%c0%ae/private", "", "", 400},
	{"three-byte overlong slash", "/public/%e0%80%af", "", "", 400},
	{"encoded surrogate", "/public/%ed%a0%80", "", "", 400},
	{"fullwidth solidus", "/public%ef%bc%8f..%ef%bc%8fprivate", "", "", 400},
	{"fullwidth full stops", "/public/%ef%bc%8e%ef%bc%8e/private", "", "", 400},
	{"fullwidth reverse solidus", "/public/%ef%bc%bc", "", "", 400},
	{"one dot leader", "/public/%e2%80%a4%e2%80%a4/private", "", "", 400},
	{"division slash", "/public%e2%88%95private", "", "", 400},
	{"yen sign", "/public/..%c2%a5private", "", "", 400},
	{"fullwidth percent", "/public/%ef%bc%85%32%65", "", "", 400},
	{"NFC", "/public/caf%C3%A9", "/public/café", "/public/caf%C3%A9", 200},
	{"NFC lower-case escapes", "/public/caf%c3%a9", "/public/café", "/public/caf%C3%A9", 200},
	{"NFD is a different path", "/public/cafe%CC%81", "/public/cafe\u0301", "/public/cafe%CC%81", 200},
	{"raw UTF-8", "/public/caf\xc3\xa9", "/public/café", "/public/caf%C3%A9", 200},
	{"raw invalid UTF-8", "/public/\xff", "", "", 400},

	// Case.
	{"upper-case prefix is another path", "/Public/a", "/Public/a", "/Public/a", 403},
	{"case is kept", "/public/Admin", "/public/Admin", "/public/Admin", 200},

	// Form of the target.
	{"empty", "", "", "", 400},
	{"relative", "public/a", "", "", 400},
	{"asterisk", "*", "", "", 400},
	{"raw hash", "/public/a#b", "", "", 400},
}

func TestCanonicalPath(t *testing.T) {
	for _, tc := range pathCases {
		t.Run(tc.name, func(t *testing.T) {
			path, escaped, err := CanonicalPath(tc.raw)
			if tc.path == "" {
				if !errors.Is(err, ErrPath) {
					t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want refused", tc.raw, path, escaped, err)
				}
				return
			}
			if err != nil || path != tc.path || escaped != tc.escaped {
				t.Fatalf("CanonicalPath(%q) = %q, %q, %v; want %q, %q", tc.raw, path, escaped, err, tc.path, tc.escaped)
			}
			checkCanonical(t, path, escaped)
		})
	}
	if _, _, err := CanonicalPath("/" + strings.Repeat("a", MaxPathLen)); !errors.Is(err, ErrPathTooLong) {
		t.Errorf("long path: %v", err)
	}
}

// checkCanonical checks the promises of an accepted path: the escaped form
// is a fixed point, and a server decoding it with net/url gets path.
func checkCanonical(t testing.TB, path, escaped string) {
	p2, e2, err := CanonicalPath(escaped)
	if err != nil || p2 != path || e2 != escaped {
		t.Fatalf("CanonicalPath(%q) = %q, %q, %v; not a fixed point (path %q)", escaped, p2, e2, err, path)
	}
	u, err := url.Parse(escaped)
	if err != nil || u.Path != path || u.EscapedPath() != escaped || u.Host != "" || u.RawQuery != "" || u.Fragment != "" {
		t.Fatalf("net/url reads %q as %+v, %v; want path %q", escaped, u, err, path)
	}
}

// A canonical path is checked without allocating.
func TestCanonicalPathAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		CanonicalPath("/public/some-app/v1/items/42")
		CanonicalHost("wiki.example.com.:443")
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestCanonicalHost(t *testing.T) {
	for _, tc := range []struct{ in, host, port string }{
		{"", "", ""},
		{"example.com", "example.com", ""},
		{"Example.COM", "example.com", ""},
		{"example.com.", "example.com", ""},
		{"example.com:8443", "example.com", "8443"},
		{"EXAMPLE.com.:443", "example.com", "443"},
		{"127.0.0.1:80", "127.0.0.1", "80"},
		{"[::1]:80", "[::1]", "80"},
		{"[0:0::1]", "[::1]", ""},
		{"xn--caf-dma.example", "xn--caf-dma.example", ""},
		{"under_score.example", "under_score.example", ""},
		{"example.com..", "", "!"},
		{"example..com", "", "!"},
		{".example.com", "", "!"},
		{"example.com:", "", "!"},
		{"example.com:http", "", "!"},
		{"example.com:123456", "", "!"},
		{"example.com:80:80", "", "!"},
		{"café.example", "", "!"},
		{"exam ple.com", "", "!"},
		{"example.com@evil.com", "", "!"},
		{"example.com%2f", "", "!"},
		{"[::1", "", "!"},
		{"[fe80::1%25eth0]", "", "!"},
		{"[127.0.0.1]", "", "!"},
		{".", "", "!"},
		{strings.Repeat("a", 64) + ".com", "", "!"},
	} {
		host, port, err := CanonicalHost(tc.in)
		if tc.port == "!" {
			if !errors.Is(err, ErrHost) {
				t.Errorf("CanonicalHost(%q) = %q, %q; want refused", tc.in, host, port)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("CanonicalHost(%q) = %q, %q, %v; want %q, %q", tc.in, host, port, err, tc.host, tc.port)
		}
	}
}
