package wildcard

import (
	"regexp"
	"testing"
)

func benchMatch(b *testing.B, pattern string, o Options, value string) {
	p := MustCompile(pattern, o)
	if !p.Match(value, hotCtx) {
		b.Fatalf("%q does not match %q", pattern, value)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Match(value, hotCtx)
	}
}

func BenchmarkMatch(b *testing.B) {
	b.Run("literal", func(b *testing.B) { benchMatch(b, "s3:GetObject", v12, "s3:GetObject") })
	b.Run("literal-fold", func(b *testing.B) { benchMatch(b, "S3:getobject", fold, "s3:GetObject") })
	b.Run("prefix", func(b *testing.B) { benchMatch(b, "s3:Get*", v12, "s3:GetObject") })
	b.Run("prefix-fold", func(b *testing.B) { benchMatch(b, "s3:get*", fold, "s3:GetObject") })
	b.Run("resource", func(b *testing.B) {
		benchMatch(b, "arn:aws:s3:::bucket/*/private/*.txt", v12, "arn:aws:s3:::bucket/team/a/private/notes/2026/q3.txt")
	})
	b.Run("resource-fold", func(b *testing.B) {
		benchMatch(b, "arn:aws:s3:::BUCKET/*/PRIVATE/*.txt", fold, "arn:aws:s3:::bucket/team/a/private/notes/2026/q3.txt")
	})
	b.Run("questions", func(b *testing.B) { benchMatch(b, "test???value", v12, "test123value") })
	b.Run("var", func(b *testing.B) { benchMatch(b, "home/${aws:username}/*", v12, "home/alice/notes/today.txt") })
	b.Run("vars-2", func(b *testing.B) {
		benchMatch(b, "${aws:PrincipalTag/team}/${zt:DeviceId}/*", v12, "blue/d-42/x")
	})
	b.Run("var-default", func(b *testing.B) { benchMatch(b, "${aws:nope, 'guest'}/*", v12, "guest/x") })
}

// BenchmarkMatchPeer measures a precompiled regular expression doing the
// work of BenchmarkMatch/resource, for scale.
func BenchmarkMatchPeer(b *testing.B) {
	re := regexp.MustCompile(`^arn:aws:s3:::bucket/.*/private/.*\.txt$`)
	value := "arn:aws:s3:::bucket/team/a/private/notes/2026/q3.txt"
	b.ReportAllocs()
	for b.Loop() {
		re.MatchString(value)
	}
}

func BenchmarkARNMatch(b *testing.B) {
	run := func(b *testing.B, pattern, value string) {
		a, err := CompileARN(pattern, v12)
		if err != nil {
			b.Fatal(err)
		}
		if !a.Match(value, hotCtx) {
			b.Fatalf("%q does not match %q", pattern, value)
		}
		b.ReportAllocs()
		for b.Loop() {
			a.Match(value, hotCtx)
		}
	}
	b.Run("wildcards", func(b *testing.B) {
		run(b, "arn:aws:iam::*:role/admin-*", "arn:aws:iam::111122223333:role/admin-ops")
	})
	b.Run("var", func(b *testing.B) {
		run(b, "arn:aws:iam::111122223333:user/${aws:username}", "arn:aws:iam::111122223333:user/alice")
	})
}
