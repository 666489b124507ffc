package signin

import (
	"regexp"
	"slices"
	"testing"
)

var awsSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func TestSessionName(t *testing.T) {
	for _, tc := range []struct{ email, sub, want string }{
		{"ada@example.com", "123", "ada@example.com"},
		{"", "248289761001", "248289761001"},
		{"", "x", ""},
		{"", "auth0|5f7c8ec7c33c6c004bbafe82", ""},
		{"", "ünïcode", ""},
		{"a.very.long.address.that.goes.on.and.on.and.on@subdomain.example.com", "s", ""},
	} {
		got := sessionName(tc.email, tc.sub)
		if !awsSessionName.MatchString(got) {
			t.Errorf("sessionName(%q, %q) = %q, not a session name", tc.email, tc.sub, got)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("sessionName(%q, %q) = %q, want %q", tc.email, tc.sub, got, tc.want)
		}
	}
	// Two subjects that clean up the same stay apart.
	if a, b := sessionName("", "a|b"), sessionName("", "a/b"); a == b {
		t.Errorf("%q and %q collide", "a|b", "a/b")
	}
}

func TestGroupsOf(t *testing.T) {
	g, ok := groupsOf([]any{"b", "a", "b", "", 7})
	if !ok || !slices.Equal(g, []string{"a", "b"}) {
		t.Fatalf("groupsOf = %v %v", g, ok)
	}
	if g, ok := groupsOf("admins"); !ok || !slices.Equal(g, []string{"admins"}) {
		t.Fatalf("one group: %v", g)
	}
	if _, ok := groupsOf(nil); ok {
		t.Fatal("absent claim seen")
	}
}

func TestMFAOf(t *testing.T) {
	for amr, want := range map[string]bool{"": false, "pwd": false, "hwk": false, "pwd otp": true, "mfa": true, "hwk pin": true} {
		var l []string
		if amr != "" {
			l = regexp.MustCompile(" ").Split(amr, -1)
		}
		if got := mfaOf(l); got != want {
			t.Errorf("mfaOf(%q) = %v", amr, got)
		}
	}
}
