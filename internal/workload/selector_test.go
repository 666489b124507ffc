package workload

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	valid := []string{
		"unix:uid:0",
		"unix:uid:4294967294",
		"unix:gid:1000",
		"unix:user:alice",
		"unix:user:svc-x_1.2$",
		"unix:group:wheel",
		"unix:user:ünïcode",
		"unix:path:/",
		"unix:path:/usr/local/bin/billing",
		"unix:path:/opt/app (v2)/bin",
	}
	for _, s := range valid {
		sel, err := ParseSelector(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if sel.String() != s {
			t.Errorf("%q printed as %q", s, sel.String())
		}
	}

	invalid := map[string]string{
		"":                    "empty",
		"uid:0":               "no type",
		"UNIX:uid:0":          "type is case-sensitive",
		"docker:label:x":      "other attestor",
		"unix:uid":            "no value",
		"unix:uid:":           "empty id",
		"unix:uid:-1":         "negative",
		"unix:uid:+1":         "sign",
		"unix:uid:01":         "leading zero never matches the attested form",
		"unix:uid: 1":         "space",
		"unix:uid:0x10":       "hex",
		"unix:uid:4294967295": "(uid_t)-1",
		"unix:uid:4294967296": "beyond 32 bits",
		"unix:gid:1.0":        "not an integer",
		"unix:user:":          "empty name",
		"unix:user:a b":       "space in name",
		"unix:user:a:b":       "colon in name",
		"unix:group:a\tb":     "tab",
		"unix:user:a\x00":     "NUL",
		"unix:user:\xff":      "not UTF-8",
		"unix:path:bin/x":     "relative",
		"unix:path:/a/../b":   "dot-dot",
		"unix:path:/a/./b":    "dot",
		"unix:path:/a/":       "trailing slash",
		"unix:path://a":       "double slash",
		"unix:path:/a\x00b":   "NUL in path",
		"unix:sha256:abc":     "kind not offered",
		"unix:path:" + "/" + strings.Repeat("a", maxPathLen): "longer than PATH_MAX",
		"unix:user:" + strings.Repeat("a", maxNameLen+1):     "long name",
	}
	for s, why := range invalid {
		if sel, err := ParseSelector(s); !errors.Is(err, ErrSelector) {
			t.Errorf("%q (%s): got %v, %v; want ErrSelector", clip(s), why, sel, err)
		}
	}
}

func TestSelectorErrorDoesNotEchoLongInput(t *testing.T) {
	_, err := ParseSelector("unix:path:relative/" + strings.Repeat("x", 10000))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("error of %d bytes", len(err.Error()))
	}
}
