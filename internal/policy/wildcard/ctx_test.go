package wildcard

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
	{"zt:DeviceId", keys.Single("d-42")},
	{"zt:DeviceGroups", keys.List([]string{"laptops", "managed"})},
}
