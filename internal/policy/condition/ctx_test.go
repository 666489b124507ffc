package condition

import "github.com/ztgate/ztgate/internal/policy/keys"

type pairs = keys.Pairs

var hotCtx keys.Context = pairs{
	{Key: "aws:username", Values: keys.Single("alice")},
	{Key: "aws:PrincipalTag/team", Values: keys.Single("blue")},
	{Key: "aws:SourceIp", Values: keys.Single("2001:db8:1234:5678::42")},
	{Key: "zt:SourceIp4", Values: keys.Single("203.0.113.7")},
	{Key: "aws:CurrentTime", Values: keys.Single("2026-11-29T16:37:00Z")},
	{Key: "aws:EpochTime", Values: keys.Single("1795970220")},
	{Key: "aws:MultiFactorAuthAge", Values: keys.Single("1800")},
	{Key: "aws:SecureTransport", Values: keys.Single("true")},
	{Key: "aws:SourceArn", Values: keys.Single("arn:aws:sns:us-east-1:111122223333:alerts")},
	{Key: "aws:TagKeys", Values: keys.List([]string{"env", "team", "owner"})},
	{Key: "s3:prefix", Values: keys.Single("home/alice/notes/2026")},
	{Key: "zt:Blob", Values: keys.Single("QmluYXJ5VmFsdWVJbkJhc2U2NA==")},
	{Key: "zt:DeviceGroups", Values: keys.List([]string{"laptops", "managed"})},
}
