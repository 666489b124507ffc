package wildcard

import "github.com/ztgate/ztgate/internal/policy/keys"

type pairs = keys.Pairs

var hotCtx keys.Context = pairs{
	{Key: "aws:username", Values: keys.Single("alice")},
	{Key: "aws:PrincipalTag/team", Values: keys.Single("blue")},
	{Key: "zt:DeviceId", Values: keys.Single("d-42")},
	{Key: "zt:DeviceGroups", Values: keys.List([]string{"laptops", "managed"})},
}
