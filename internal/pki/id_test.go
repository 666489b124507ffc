package pki

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in, td, path string
		why          string // part of the error, "" when valid
	}{
		{in: "spiffe://example.org", td: "example.org"},
		{in: "spiffe://example.org/workload", td: "example.org", path: "/workload"},
		{in: "spiffe://a-b_c.9/ns/Prod/sa/API-v1.2_x", td: "a-b_c.9", path: "/ns/Prod/sa/API-v1.2_x"},
		{in: "spiffe://example.org/.../a", td: "example.org", path: "/.../a"},
		{in: "", why: "empty"},
		{in: "example.org/x", why: "scheme"},
		{in: "SPIFFE://example.org/x", why: "scheme"},
		{in: "https://example.org/x", why: "scheme"},
		{in: "spiffe:/example.org/x", why: "scheme"},
		{in: "spiffe://", why: "trust domain is missing"},
		{in: "spiffe:///x", why: "trust domain is missing"},
		{in: "spiffe://Example.org/x", why: "trust domain characters"},
		{in: "spiffe://exa mple.org/x", why: "trust domain characters"},
		{in: "spiffe://example.org:8080/x", why: "port"},
		{in: "spiffe://user@example.org/x", why: "userinfo"},
		{in: "spiffe://example.org?q=1", why: "query"},
		{in: "spiffe://example.org/x?q=1", why: "query"},
		{in: "spiffe://example.org/x#frag", why: "query or fragment"},
		{in: "spiffe://example.org/", why: "end with '/'"},
		{in: "spiffe://example.org/x/", why: "end with '/'"},
		{in: "spiffe://example.org//x", why: "empty segments"},
		{in: "spiffe://example.org/./x", why: "'.' or '..'"},
		{in: "spiffe://example.org/x/..", why: "'.' or '..'"},
		{in: "spiffe://example.org/a%2Fb", why: "percent-encoding"},
		{in: "spiffe://example.org/a b", why: "path characters"},
		{in: "spiffe://example.org/a~b", why: "path characters"},
		{in: "spiffe://example.org/é", why: "path characters"},
		{in: "spiffe://example.org/" + strings.Repeat("a", MaxIDLen), why: "longer than 2048"},
		{in: "spiffe://" + strings.Repeat("a", 256) + "/x", why: "longer than 255"},
	} {
		id, err := ParseID(tc.in)
		if tc.why != "" {
			if err == nil {
				t.Errorf("ParseID(%q) = %v, want an error about %q", tc.in, id, tc.why)
				continue
			}
			checkErr(t, err, ErrInvalidID)
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("ParseID(%q) = %v, want it to say %q", tc.in, err, tc.why)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseID(%q): %v", tc.in, err)
			continue
		}
		if id.String() != tc.in || id.TrustDomain().String() != tc.td || id.Path() != tc.path || id.URL().String() != tc.in {
			t.Errorf("ParseID(%q) = %q td %q path %q url %q", tc.in, id, id.TrustDomain(), id.Path(), id.URL())
		}
		if !id.MemberOf(TrustDomain{name: tc.td}) || id.MemberOf(TrustDomain{name: "other.org"}) {
			t.Errorf("%q: MemberOf is wrong", tc.in)
		}
		// go-spiffe, built without its back-compat charset, agrees on
		// every ID within the length limits.
		if _, err := spiffeid.FromString(tc.in); err != nil {
			t.Errorf("ParseID accepts %q, go-spiffe refuses it: %v", tc.in, err)
		}
	}
}

// TestParseIDAgreesWithGoSpiffe: on IDs within the length limits, ParseID
// accepts exactly what go-spiffe accepts.
func TestParseIDAgreesWithGoSpiffe(t *testing.T) {
	parts := []string{"", "spiffe://", "SPIFFE://", "example.org", "Ex", "/", "//", "/a", "/.", "/..", "/a.b", "?", "#", "%20", ":80", "@", "-_", "~", " "}
	n := 0
	for _, a := range parts {
		for _, b := range parts {
			for _, c := range parts {
				s := a + b + c
				_, ours := ParseID(s)
				_, theirs := spiffeid.FromString(s)
				if (ours == nil) != (theirs == nil) {
					t.Errorf("%q: ParseID %v, go-spiffe %v", s, ours, theirs)
				}
				n++
			}
		}
	}
	t.Logf("pki: %d spiffe ids judged as go-spiffe judges them", n)
}

func TestParseTrustDomain(t *testing.T) {
	for _, ok := range []string{"example.org", "a", "x-y_z.9", strings.Repeat("a", 255)} {
		td, err := ParseTrustDomain(ok)
		if err != nil || td.String() != ok || td.ID().String() != "spiffe://"+ok || td.IsZero() {
			t.Errorf("ParseTrustDomain(%q) = %v, %v", ok, td, err)
		}
	}
	for _, bad := range []string{"", "Example.org", "spiffe://example.org", "example.org/x", "example.org:443", "ex ample", strings.Repeat("a", 256)} {
		if _, err := ParseTrustDomain(bad); err == nil {
			t.Errorf("ParseTrustDomain(%q) accepted", bad)
		} else {
			checkErr(t, err, ErrInvalidID)
		}
	}
	td, _ := ParseTrustDomain("example.org")
	id, err := td.NewID("/ns/default")
	if err != nil || id.String() != "spiffe://example.org/ns/default" {
		t.Errorf("NewID = %v, %v", id, err)
	}
	if _, err := td.NewID("ns"); err == nil {
		t.Error("NewID without a leading slash accepted")
	}
	if _, err := (TrustDomain{}).NewID("/x"); err == nil {
		t.Error("NewID on the zero trust domain accepted")
	}
}

func TestIDText(t *testing.T) {
	var v struct{ ID ID }
	if err := json.Unmarshal([]byte(`{"ID":"spiffe://example.org/a"}`), &v); err != nil || v.ID.String() != "spiffe://example.org/a" {
		t.Fatalf("unmarshal: %v %v", v.ID, err)
	}
	out, err := json.Marshal(v)
	if err != nil || string(out) != `{"ID":"spiffe://example.org/a"}` {
		t.Fatalf("marshal: %s %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"ID":"spiffe://example.org/a/"}`), &v); err == nil {
		t.Fatal("an invalid id unmarshalled")
	}
	if err := json.Unmarshal([]byte(`{"ID":""}`), &v); err != nil || !v.ID.IsZero() {
		t.Fatalf("empty id: %v %v", v.ID, err)
	}
	var zero ID
	if zero.TrustDomain() != (TrustDomain{}) || zero.URL().String() != "" || zero.MemberOf(TrustDomain{}) {
		t.Fatal("the zero ID belongs somewhere")
	}
}
