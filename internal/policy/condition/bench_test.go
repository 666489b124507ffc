package condition

import (
	"net/netip"
	"testing"
)

func BenchmarkEval(b *testing.B) {
	for _, tt := range []struct {
		name, op, key string
		values        []string
	}{
		{"StringEquals", "StringEquals", "aws:username", []string{"bob", "alice"}},
		{"StringEquals/20", "StringEquals", "aws:username", manyValues(19, "alice")},
		{"StringEqualsIgnoreCase", "StringEqualsIgnoreCase", "aws:username", []string{"ALICE"}},
		{"StringLike/var", "StringLike", "s3:prefix", []string{"home/${aws:username}/*"}},
		{"StringNotLike", "StringNotLike", "s3:prefix", []string{"shared/*", "public/*"}},
		{"NumericLessThan", "NumericLessThan", "aws:MultiFactorAuthAge", []string{"3600"}},
		{"DateGreaterThan", "DateGreaterThan", "aws:CurrentTime", []string{"2020-01-01T00:00:01Z"}},
		{"DateLessThan/epoch", "DateLessThan", "aws:EpochTime", []string{"2030-01-01"}},
		{"Bool", "Bool", "aws:SecureTransport", []string{"true"}},
		{"BinaryEquals", "BinaryEquals", "zt:Blob", []string{"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}},
		{"IpAddress/v4", "IpAddress", "zt:SourceIp4", []string{"10.0.0.0/8", "203.0.113.0/24"}},
		{"IpAddress/v6", "IpAddress", "aws:SourceIp", []string{"2001:db8::/32"}},
		{"ArnLike", "ArnLike", "aws:SourceArn", []string{"arn:aws:sns:*:111122223333:*"}},
		{"ForAllValues:StringLike", "ForAllValues:StringLike", "aws:TagKeys", []string{"env", "t*", "o*"}},
		{"Null", "Null", "zt:Missing", []string{"true"}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c, err := Compile(tt.op, tt.key, tt.values, Options{Vars: true})
			if err != nil {
				b.Fatal(err)
			}
			if !c.Eval(hotCtx) {
				b.Fatalf("%s does not hold", tt.name)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Eval(hotCtx)
			}
		})
	}
}

// BenchmarkEvalPeer measures the standard library doing the work of
// BenchmarkEval/IpAddress/v4 (parse the address, test two blocks), for
// scale.
func BenchmarkEvalPeer(b *testing.B) {
	nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("203.0.113.0/24")}
	b.ReportAllocs()
	for b.Loop() {
		v, _ := hotCtx.Lookup("zt:SourceIp4")
		a, err := netip.ParseAddr(v.At(0))
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range nets {
			if p.Contains(a) {
				break
			}
		}
	}
}
