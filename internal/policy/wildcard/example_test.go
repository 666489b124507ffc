package wildcard_test

import (
	"fmt"

	"github.com/ztgate/ztgate/internal/policy/keys"
	"github.com/ztgate/ztgate/internal/policy/wildcard"
)

func ExamplePattern_Match() {
	p, err := wildcard.Compile("arn:aws:s3:::home/${aws:username}/*", wildcard.Options{Vars: true})
	if err != nil {
		panic(err)
	}
	ctx := keys.Map{"aws:username": keys.Single("alice")}
	fmt.Println(p.Match("arn:aws:s3:::home/alice/notes.txt", ctx))
	fmt.Println(p.Match("arn:aws:s3:::home/bob/notes.txt", ctx))
	fmt.Println(p.Match("arn:aws:s3:::home/alice/notes.txt", keys.Map{})) // aws:username absent
	// Output:
	// true
	// false
	// false
}

func ExampleARNPattern_Match() {
	a, err := wildcard.CompileARN("arn:aws:someservice:*:111122223333:finance/*", wildcard.Options{Vars: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Match("arn:aws:someservice:us-east-2:111122223333:finance/q3.txt", nil))
	// The '*' in the region cannot reach across the account.
	fmt.Println(a.Match("arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/q3.txt", nil))
	// Output:
	// true
	// false
}
