package condition

import (
	"fmt"
	"testing"
)

// allocCases cover every operator family, matching and not, negated, with
// set operators, IfExists, Null and policy variables.
var allocCases = []struct {
	op, key string
	values  []string
}{
	{"StringEquals", "aws:username", []string{"bob", "alice"}},
	{"StringEquals", "aws:username", []string{"${aws:PrincipalTag/team}"}},
	{"StringNotEquals", "aws:username", []string{"bob", "carol"}},
	{"StringEqualsIgnoreCase", "aws:username", []string{"ALICE"}},
	{"StringNotEqualsIgnoreCase", "aws:username", []string{"BOB"}},
	{"StringLike", "s3:prefix", []string{"home/${aws:username}/*"}},
	{"StringLike", "s3:prefix", []string{"home/${aws:nope}/*"}},
	{"StringNotLike", "s3:prefix", []string{"shared/*", "home/${aws:username, 'guest'}/private/*"}},
	{"StringEquals", "aws:username", []string{"a", "b", "c", "d", "e", "f", "g", "h", "alice"}},
	{"NumericLessThan", "aws:MultiFactorAuthAge", []string{"3600"}},
	{"NumericNotEquals", "aws:MultiFactorAuthAge", []string{"0", "1"}},
	{"NumericEquals", "aws:username", []string{"1"}},
	{"DateGreaterThan", "aws:CurrentTime", []string{"2020-01-01T00:00:01Z"}},
	{"DateLessThan", "aws:EpochTime", []string{"2030-01-01T00:00:00+01:00"}},
	{"DateNotEquals", "aws:username", []string{"2024-01-01"}},
	{"Bool", "aws:SecureTransport", []string{"true"}},
	{"Bool", "aws:SecureTransport", []string{"${aws:nope, 'true'}"}},
	{"BinaryEquals", "zt:Blob", []string{"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}},
	{"BinaryEquals", "aws:username", []string{"QQ=="}},
	{"IpAddress", "aws:SourceIp", []string{"203.0.113.0/24", "2001:db8::/32"}},
	{"NotIpAddress", "zt:SourceIp4", []string{"10.0.0.0/8"}},
	{"IpAddress", "aws:username", []string{"10.0.0.0/8"}},
	{"ArnLike", "aws:SourceArn", []string{"arn:aws:sns:*:111122223333:*"}},
	{"ArnEquals", "aws:SourceArn", []string{"arn:aws:sns:us-east-1:${aws:username}:alerts"}},
	{"ArnNotLike", "aws:SourceArn", []string{"arn:aws:sqs:*:*:*", "*"}},
	{"ArnLike", "aws:username", []string{"arn:*:*:*:*:*"}},
	{"ForAnyValue:StringEquals", "aws:TagKeys", []string{"owner"}},
	{"ForAllValues:StringLike", "aws:TagKeys", []string{"env", "t*", "o*"}},
	{"ForAllValues:StringNotEquals", "zt:DeviceGroups", []string{"unmanaged"}},
	{"StringEqualsIfExists", "zt:Missing", []string{"x"}},
	{"StringNotEquals", "zt:Missing", []string{"x"}},
	{"Null", "zt:Missing", []string{"true"}},
	{"Null", "aws:username", []string{"false"}},
}

func TestEvalDoesNotAllocate(t *testing.T) {
	for _, tt := range allocCases {
		c, err := Compile(tt.op, tt.key, tt.values, Options{Vars: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { c.Eval(hotCtx) }); n != 0 {
			t.Errorf("%s %s %q: %v allocations, want 0", tt.op, tt.key, tt.values, n)
		}
	}
}

func TestAllDoesNotAllocate(t *testing.T) {
	var block []*Condition
	for _, tt := range allocCases[:5] {
		c, err := Compile(tt.op, tt.key, tt.values, Options{Vars: true})
		if err != nil {
			t.Fatal(err)
		}
		block = append(block, c)
	}
	if n := testing.AllocsPerRun(100, func() { All(block, hotCtx) }); n != 0 {
		t.Errorf("All: %v allocations, want 0", n)
	}
}

func manyValues(n int, last string) []string {
	v := make([]string, n, n+1)
	for i := range v {
		v[i] = fmt.Sprintf("user-%d", i)
	}
	return append(v, last)
}
