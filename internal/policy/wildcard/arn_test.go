package wildcard

import (
	"errors"
	"testing"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

func TestARNMatch(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		opt     Options
		value   string
		want    bool
	}{
		{"exact", "arn:aws:s3:::bucket", v12, "arn:aws:s3:::bucket", true},
		{"resource with colons", "arn:aws:logs:us-east-1:111122223333:log-group:g:*", v12,
			"arn:aws:logs:us-east-1:111122223333:log-group:g:log-stream:s", true},
		{"every part a wildcard", "arn:???:*:*:*:*", v12, "arn:aws:ec2:us-east-1:123456789012:instance/i-1", true},
		{"star stays in its part", "arn:aws:someservice:*:111122223333:finance/*", v12,
			"arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", false},
		{"star in resource crosses colons", "arn:aws:someservice:us-east-2:999999999999:*", v12,
			"arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", true},
		{"empty region and account", "arn:aws:iam::*:root", v12, "arn:aws:iam::111122223333:root", true},
		{"star matches empty part", "arn:aws:s3:*:*:bucket", v12, "arn:aws:s3:::bucket", true},
		{"case sensitive", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", v12,
			"arn:aws:ec2:us-east-1:123456789012:INSTANCE/I-1", false},
		{"fold", "ARN:AWS:EC2:*:*:instance/*", Options{Fold: true}, "arn:aws:ec2:r:1:INSTANCE/x", true},
		{"value not an ARN", "arn:*:*:*:*:*", v12, "arn:::bucket", false},
		{"value not an ARN at all", "*:*:*:*:*:*", v12, "bucket", false},
		{"first part is matched", "arn:*:*:*:*:*", v12, "urn:a:b:c:d:e", false},
		{"variable", "arn:aws:iam::123456789012:user/${aws:username}", v12, "arn:aws:iam::123456789012:user/alice", true},
		{"variable other", "arn:aws:iam::123456789012:user/${aws:username}", v12, "arn:aws:iam::123456789012:user/bob", false},
		{"variable in account part", "arn:aws:iam::${zt:DeviceId}:root", v12, "arn:aws:iam::d-42:root", true},
		{"variable with colon value is text", "arn:aws:s3:::${zt:Colon}", v12, "arn:aws:s3:::a:b", true},
		{"variable with colon value does not split", "arn:${zt:Colon}:s3:::x", v12, "arn:a:b:s3:::x", false},
		{"missing variable", "arn:aws:iam::123456789012:user/${aws:nope}", v12, "arn:aws:iam::123456789012:user/", false},
		{"2008 variable colon splits", "arn:aws:iam::1:user/${aws:username}", v08, "arn:aws:iam::1:user/${aws:username}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := CompileARN(tt.pattern, tt.opt)
			if err != nil {
				t.Fatalf("CompileARN(%q): %v", tt.pattern, err)
			}
			if got := a.Match(tt.value, reqCtx); got != tt.want {
				t.Errorf("CompileARN(%q).Match(%q) = %v, want %v", tt.pattern, tt.value, got, tt.want)
			}
		})
	}
}

func TestARNTest(t *testing.T) {
	ctx := keys.Map{"aws:username": keys.Single("alice")}
	tests := []struct {
		pattern, value string
		matched, ok    bool
	}{
		{"arn:aws:s3:::b", "arn:aws:s3:::b", true, true},
		{"arn:aws:s3:::b", "arn:aws:s3:::c", false, true},
		{"arn:aws:s3:::b", "not-an-arn", false, false},
		{"arn:aws:s3:::${aws:username}", "arn:aws:s3:::alice", true, true},
		{"arn:aws:s3:::${aws:nope}", "arn:aws:s3:::alice", false, false},
		// The first part already fails; the verdict still needs the
		// later variable.
		{"arn:gcp:s3:::${aws:nope}", "arn:aws:s3:::alice", false, false},
		{"arn:gcp:s3:::${aws:username}", "arn:aws:s3:::alice", false, true},
	}
	for _, tt := range tests {
		a, err := CompileARN(tt.pattern, v12)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := a.Test(tt.value, ctx)
		if m != tt.matched || ok != tt.ok {
			t.Errorf("%q.Test(%q) = %v, %v; want %v, %v", tt.pattern, tt.value, m, ok, tt.matched, tt.ok)
		}
	}
}

func TestCompileARNErrors(t *testing.T) {
	for _, s := range []string{"", "*", "arn:::bucket", "arn:aws:s3::bucket", "${aws:a:b:c:d:e}"} {
		if _, err := CompileARN(s, v12); !errors.Is(err, ErrNotARN) {
			t.Errorf("CompileARN(%q) = %v, want ErrNotARN", s, err)
		}
	}
	// Without variables, the colons inside "${...}" separate parts.
	if _, err := CompileARN("${aws:a:b:c:d:e}", v08); err != nil {
		t.Errorf("CompileARN for 2008-10-17: %v", err)
	}
	for _, s := range []string{"arn:aws:s3:::${aws:username", "arn:${}:s3:::b"} {
		if _, err := CompileARN(s, v12); !errors.Is(err, ErrVariable) {
			t.Errorf("CompileARN(%q) = %v, want ErrVariable", s, err)
		}
	}
	a, err := CompileARN("arn:aws:s3:::${aws:username}", v12)
	if err != nil || !a.HasVars() || a.String() != "arn:aws:s3:::${aws:username}" {
		t.Errorf("CompileARN: %v, HasVars %v, String %q", err, a.HasVars(), a.String())
	}
}
