package condition

import (
	"strings"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// pairs is a request context in the shape the decision path uses: a
// fixed set of keys read without allocating.
type pairs []pair

type pair struct {
	key string
	val keys.Values
}

func (p pairs) Lookup(key string) (keys.Values, bool) {
	for i := range p {
		if p[i].key == key {
			return p[i].val, true
		}
	}
	for i := range p {
		if strings.EqualFold(p[i].key, key) {
			return p[i].val, true
		}
	}
	return keys.Values{}, false
}

var _ keys.Context = pairs(nil)

var hotCtx keys.Context = pairs{
	{"aws:username", keys.Single("alice")},
	{"aws:PrincipalTag/team", keys.Single("blue")},
	{"aws:SourceIp", keys.Single("2001:db8:1234:5678::42")},
	{"zt:SourceIp4", keys.Single("203.0.113.7")},
	{"aws:CurrentTime", keys.Single("2026-11-29T16:37:00Z")},
	{"aws:EpochTime", keys.Single("1795970220")},
	{"aws:MultiFactorAuthAge", keys.Single("1800")},
	{"aws:SecureTransport", keys.Single("true")},
	{"aws:SourceArn", keys.Single("arn:aws:sns:us-east-1:111122223333:alerts")},
	{"aws:TagKeys", keys.List([]string{"env", "team", "owner"})},
	{"s3:prefix", keys.Single("home/alice/notes/2026")},
	{"zt:Blob", keys.Single("QmluYXJ5VmFsdWVJbkJhc2U2NA==")},
	{"zt:DeviceGroups", keys.List([]string{"laptops", "managed"})},
}
