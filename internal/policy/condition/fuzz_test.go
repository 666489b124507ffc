package condition

import (
	"errors"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// negations pairs each negated operator with its positive form.
var negations = map[string]string{
	"StringNotEquals":           "StringEquals",
	"StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
	"StringNotLike":             "StringLike",
	"NumericNotEquals":          "NumericEquals",
	"DateNotEquals":             "DateEquals",
	"NotIpAddress":              "IpAddress",
	"ArnNotEquals":              "ArnEquals",
	"ArnNotLike":                "ArnLike",
}

// fuzzOperator builds an operator name: one of the known operators with
// a set prefix and IfExists chosen by sel, or raw as written.
func fuzzOperator(sel uint8, raw string) (string, *base) {
	i := int(sel & 0x1f)
	if i >= len(bases) {
		return raw, nil
	}
	b := &bases[i]
	name := b.name
	switch sel >> 5 & 3 {
	case 1:
		name = "ForAnyValue:" + name
	case 2:
		name = "ForAllValues:" + name
	}
	if sel&0x80 != 0 {
		name += "IfExists"
	}
	return name, b
}

func FuzzCondition(f *testing.F) {
	f.Add(uint8(0), "", "aws:username", "alice", "${aws:username}", "alice", "bob", uint8(0))
	f.Add(uint8(4), "", "s3:prefix", "home/${aws:username}/*", "", "home/bob/x", "bob", uint8(0))
	f.Add(uint8(5), "", "s3:prefix", "home/*", "${aws:nope, 'x'}", "home/", "", uint8(1))
	f.Add(uint8(9), "", "k", "10.5", "-3", "7", "", uint8(0))
	f.Add(uint8(14), "", "aws:CurrentTime", "2024-01-01T00:00:00+01:00", "1704067200", "2024-01-01", "", uint8(0))
	f.Add(uint8(18), "", "aws:SecureTransport", "true", "${x}", "TRUE", "false", uint8(0))
	f.Add(uint8(19), "", "k", "QUJD", "QQ", "QUJD", "", uint8(0))
	f.Add(uint8(21), "", "aws:SourceIp", "10.0.0.0/8", "2001:db8::/32", "2001:db8::1", "", uint8(0))
	f.Add(uint8(25), "", "aws:SourceArn", "arn:aws:iam::*:root", "*", "arn:aws:iam::1:root", "", uint8(0))
	f.Add(uint8(26), "", "k", "true", "false", "", "", uint8(2))
	f.Add(uint8(0x20|4), "", "aws:TagKeys", "a*", "b", "a,b,c", "", uint8(1))
	f.Add(uint8(0x40|1), "", "aws:TagKeys", "a", "b", "", "", uint8(1))
	f.Add(uint8(0xff), "ForAnyValue:StringLikeIfExists", "k", "*", "", "x", "", uint8(0))
	f.Add(uint8(0xff), "Bogus", "k", "a", "b", "c", "", uint8(0))
	f.Fuzz(func(t *testing.T, sel uint8, raw, key, v1, v2, req, user string, mode uint8) {
		op, b := fuzzOperator(sel, raw)
		values := []string{v1}
		if mode&4 == 0 {
			values = append(values, v2)
		}
		o := Options{Vars: mode&8 == 0}
		c, err := Compile(op, key, values, o)
		if err != nil {
			if !errors.Is(err, ErrOperator) && !errors.Is(err, ErrValue) && !errors.Is(err, ErrKey) {
				t.Fatalf("Compile(%q, %q, %q): unclassified error %v", op, key, values, err)
			}
			return
		}
		ctx := keys.Map{
			"aws:username":    keys.Single(user),
			"zt:DeviceGroups": keys.List([]string{user, "x"}),
		}
		for k := range ctx {
			if strings.EqualFold(k, key) {
				delete(ctx, k) // one key, one value: keys compare without case
			}
		}
		switch mode & 3 {
		case 1:
			ctx[key] = keys.List(strings.Split(req, ","))
		case 2:
			// the key is absent
		default:
			ctx[key] = keys.Single(req)
		}
		got := c.Eval(ctx)
		if again := c.Eval(ctx); again != got {
			t.Fatalf("%s %q: Eval is not deterministic", op, values)
		}
		if _, present := ctx.Lookup(key); !present && strings.HasSuffix(c.Operator(), "IfExists") && !got {
			t.Fatalf("%s on an absent key = false", op)
		}
		if b == nil || c.set != setNone || c.ifExists {
			return
		}
		pos, isNeg := negations[b.name]
		if !isNeg {
			return
		}
		p, err := Compile(pos, key, values, o)
		if err != nil {
			t.Fatalf("%s compiles but %s does not: %v", op, pos, err)
		}
		if _, present := ctx.Lookup(key); present && got && p.Eval(ctx) {
			t.Fatalf("%s and %s both hold for %q against %q", op, pos, values, req)
		}
	})
}
