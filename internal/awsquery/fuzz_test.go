package awsquery_test

import (
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/awsquery"
)

// FuzzParse feeds arbitrary bodies to Parse and reads every prefix of
// every name as a list, a list of structures, a map and a structure. None
// may panic; every error must be classified and name at most MaxEcho
// bytes; what parses must survive re-encoding unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Action=AssumeRole&Version=2011-06-15&Tags.member.1.Key=a&Tags.member.1.Value=b",
		"L.1=a&L.2=b&L.member.1=c",
		"M.entry.1.key=a&M.entry.1.value=b&M.entry.1.value.x=c",
		"a=%zz",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := awsquery.Parse(body)
		if err != nil {
			checkError(t, err, awsquery.ErrMalformed)
			return
		}
		names := p.Names()
		if len(names) > awsquery.MaxParams || len(names) != p.Len() {
			t.Fatalf("%d names, Len %d", len(names), p.Len())
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Fatalf("names not sorted and unique: %q", names)
		}
		form := url.Values{}
		for _, n := range names {
			if !p.Has(n) {
				t.Fatalf("Names has %q, Has does not", n)
			}
			form.Set(n, p.Get(n))
		}
		again, err := awsquery.Parse([]byte(form.Encode()))
		if err != nil {
			t.Fatalf("re-encoded form does not parse: %v", err)
		}
		if got := pairs(again); !reflect.DeepEqual(got, pairs(p)) {
			t.Fatalf("round trip changed the form: %q != %q", got, pairs(p))
		}
		// A few names, a few levels deep: enough to reach every shape
		// while keeping each run fast.
		for _, n := range names[:min(len(names), 16)] {
			depth := 0
			for i := range len(n) + 1 {
				if i < len(n) && n[i] != '.' {
					continue
				}
				if depth++; depth > 5 {
					break
				}
				readAggregates(t, p, n[:i])
			}
		}
	})
}

// readAggregates reads prefix every way and checks the answers agree with
// Get.
func readAggregates(t *testing.T, p awsquery.Params, prefix string) {
	t.Helper()
	if l, err := p.List(prefix); err != nil {
		checkError(t, err, awsquery.ErrInvalid)
	} else {
		for i, v := range l {
			idx := strconv.Itoa(i + 1)
			if p.Get(prefix+".member."+idx) != v && p.Get(prefix+"."+idx) != v {
				t.Fatalf("List(%q)[%d] = %q, not a parameter's value", prefix, i, v)
			}
		}
	}
	if ss, err := p.Structs(prefix); err != nil {
		checkError(t, err, awsquery.ErrInvalid)
	} else {
		for i, s := range ss {
			if s.Len() == 0 {
				t.Fatalf("Structs(%q)[%d] is empty", prefix, i)
			}
		}
	}
	if m, err := p.Map(prefix); err != nil {
		checkError(t, err, awsquery.ErrInvalid)
	} else if 2*len(m) > p.Sub(prefix).Len() {
		t.Fatalf("Map(%q) has %d entries from %d parameters", prefix, len(m), p.Sub(prefix).Len())
	}
	sub := p.Sub(prefix)
	for _, n := range sub.Names() {
		if sub.Get(n) != p.Get(prefix+"."+n) {
			t.Fatalf("Sub(%q).Get(%q) disagrees with Get", prefix, n)
		}
	}
}

func checkError(t *testing.T, err, kind error) {
	t.Helper()
	var e *awsquery.Error
	if !errors.Is(err, kind) || !errors.As(err, &e) {
		t.Fatalf("error %v is not a *Error of kind %v", err, kind)
	}
	if len(e.Param) > awsquery.MaxEcho || !strings.HasPrefix(err.Error(), "awsquery: ") {
		t.Fatalf("error %q", err)
	}
}
