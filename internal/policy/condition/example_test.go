package condition_test

import (
	"fmt"

	"github.com/ztgate/ztgate/internal/policy/condition"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

func ExampleCondition_Eval() {
	// "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}
	c, err := condition.Compile("ForAllValues:StringEquals", "aws:TagKeys", []string{"env", "team"}, condition.Options{Vars: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Eval(keys.Map{"aws:TagKeys": keys.List([]string{"env"})}))
	fmt.Println(c.Eval(keys.Map{"aws:TagKeys": keys.List([]string{"env", "owner"})}))
	fmt.Println(c.Eval(keys.Map{})) // no tags at all: ForAllValues holds
	// Output:
	// true
	// false
	// true
}

func ExampleAll() {
	block := []*condition.Condition{}
	for _, c := range []struct {
		op, key string
		values  []string
	}{
		{"Bool", "aws:MultiFactorAuthPresent", []string{"true"}},
		{"IpAddress", "aws:SourceIp", []string{"203.0.113.0/24", "2001:db8::/32"}},
		{"StringNotEqualsIfExists", "zt:DevicePosture", []string{"quarantined"}},
	} {
		cond, err := condition.Compile(c.op, c.key, c.values, condition.Options{Vars: true})
		if err != nil {
			panic(err)
		}
		block = append(block, cond)
	}
	req := keys.Map{
		"aws:MultiFactorAuthPresent": keys.Single("true"),
		"aws:SourceIp":               keys.Single("2001:db8::7"),
	}
	fmt.Println(condition.All(block, req))
	req["zt:DevicePosture"] = keys.Single("quarantined")
	fmt.Println(condition.All(block, req))
	// Output:
	// true
	// false
}
