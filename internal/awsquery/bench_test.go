package awsquery_test

import (
	"testing"

	"github.com/ztgate/ztgate/internal/awsquery"
)

// assumeRoleBody is what the AWS CLI sends for an AssumeRole with two
// tags: the common large STS request.
const assumeRoleBody = "Action=AssumeRole&Version=2011-06-15" +
	"&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdemo&RoleSessionName=testAssumeRoleSession" +
	"&Tags.member.1.Key=Project&Tags.member.1.Value=Unicorn&Tags.member.2.Key=Team&Tags.member.2.Value=Automation" +
	"&TransitiveTagKeys.member.1=Project&DurationSeconds=3600"

// TestAllocations holds the budgets BenchmarkParse reports: Parse copies
// the body once and allocates one slice, plus one string per escaped
// name or value; lookups allocate nothing.
func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	plain := []byte("Action=GetSessionToken&Version=2011-06-15&DurationSeconds=3600")
	escaped := []byte(assumeRoleBody)
	for _, tc := range []struct {
		name   string
		budget float64
		f      func()
	}{
		{"Parse", 2, func() { _, _ = awsquery.Parse(plain) }},
		{"Parse with escapes", 3, func() { _, _ = awsquery.Parse(escaped) }},
	} {
		if got := testing.AllocsPerRun(100, tc.f); got > tc.budget {
			t.Errorf("%s: %v allocations, budget %v", tc.name, got, tc.budget)
		}
	}
	p := mustParse(t, assumeRoleBody)
	if got := testing.AllocsPerRun(100, func() {
		_ = p.Get("RoleSessionName")
		_ = p.Has("Policy")
		_ = p.Sub("Tags").Sub("member").Get("1.Key")
	}); got != 0 {
		t.Errorf("Get, Has, Sub: %v allocations, want 0", got)
	}
}

func BenchmarkParse(b *testing.B) {
	body := []byte(assumeRoleBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := awsquery.Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadAssumeRole is what an AssumeRole handler does with a
// parsed body: scalars, the tags and the transitive keys.
func BenchmarkReadAssumeRole(b *testing.B) {
	p := mustParse(b, assumeRoleBody)
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Get("RoleArn")
		_ = p.Get("RoleSessionName")
		_ = p.Get("DurationSeconds")
		if _, err := p.Structs("Tags"); err != nil {
			b.Fatal(err)
		}
		if _, err := p.List("TransitiveTagKeys"); err != nil {
			b.Fatal(err)
		}
	}
}
