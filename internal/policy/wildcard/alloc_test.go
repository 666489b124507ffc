package wildcard

import (
	"strings"
	"testing"
)

// Matching is on the path of every authorization decision: it must not
// allocate, whatever the pattern's shape, with or without variables, and
// whether it matches or not.
func TestMatchDoesNotAllocate(t *testing.T) {
	tests := []struct {
		pattern string
		opt     Options
		value   string
	}{
		{"s3:GetObject", v12, "s3:GetObject"},
		{"s3:getobject", fold, "s3:GetObject"},
		{"s3:Get*", v12, "s3:GetObject"},
		{"S3:GET*", fold, "s3:GetObject"},
		{"*Object", v12, "s3:GetObject"},
		{"*", v12, "anything"},
		{"arn:aws:s3:::bucket/*/private/*.txt", v12, "arn:aws:s3:::bucket/a/private/b.txt"},
		{"arn:aws:s3:::bucket/*/PRIVATE/*.TXT", fold, "arn:aws:s3:::bucket/a/private/b.txt"},
		{"test???value", v12, "test123value"},
		{"home/${aws:username}/*", v12, "home/alice/notes"},
		{"home/${aws:username}/*", v12, "home/bob/notes"},
		{"HOME/${aws:username}/*", fold, "home/ALICE/notes"},
		{"${aws:PrincipalTag/team}-${zt:DeviceId}", v12, "blue-d-42"},
		{"${aws:nope, 'guest'}*", v12, "guest-1"},
		{"${aws:nope}*", v12, "x"},
		{"${zt:DeviceGroups}", v12, "laptops"},
		{"u/${aws:username}", literal, "u/alice"},
		{strings.Repeat("${aws:username}", 10) + "*", v12, strings.Repeat("alice", 10) + "!"},
	}
	for _, tt := range tests {
		p := MustCompile(tt.pattern, tt.opt)
		if n := testing.AllocsPerRun(100, func() { p.Match(tt.value, hotCtx) }); n != 0 {
			t.Errorf("%q.Match(%q): %v allocations, want 0", tt.pattern, tt.value, n)
		}
	}
}

func TestARNMatchDoesNotAllocate(t *testing.T) {
	tests := []struct{ pattern, value string }{
		{"arn:aws:s3:::bucket", "arn:aws:s3:::bucket"},
		{"arn:aws:iam::*:role/admin-*", "arn:aws:iam::111122223333:role/admin-ops"},
		{"arn:aws:iam::111122223333:user/${aws:username}", "arn:aws:iam::111122223333:user/alice"},
		{"arn:aws:iam::111122223333:user/${aws:nope}", "arn:aws:iam::111122223333:user/alice"},
		{"arn:aws:iam::*:*", "not-an-arn"},
	}
	for _, tt := range tests {
		a, err := CompileARN(tt.pattern, v12)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { a.Match(tt.value, hotCtx) }); n != 0 {
			t.Errorf("%q.Match(%q): %v allocations, want 0", tt.pattern, tt.value, n)
		}
	}
}
