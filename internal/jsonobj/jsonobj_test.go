package jsonobj

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzObject checks the JSON walker against encoding/json: whatever object
// accepts, encoding/json decodes to the same members and values; whatever
// encoding/json accepts as an object without duplicate names, in valid
// UTF-8 and within MaxMembers, object accepts too.
func FuzzObject(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}], "d":"\"\\"} `, `{"iss":"x","iss":"y"}`,
		`{"\u0069ss":1,"iss":2}`, `[]`, `{"a":{"b":{"c":[[[]]]}}}`, `{"a":null,"b":true,"c":-1.5e3}`,
		"{\"a\":\"\xff\"}", `{"a":1}{}`, `{"a":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type member struct{ name, value string }
		var got []member
		err := Object(data, func(name, raw []byte) error {
			got = append(got, member{string(name), string(raw)})
			return nil
		})
		var std map[string]json.RawMessage
		stdErr := json.Unmarshal(data, &std)
		if err == nil {
			if stdErr != nil || std == nil || len(std) != len(got) {
				t.Fatalf("object accepted %q: %v, encoding/json: %v, %d members", data, got, stdErr, len(std))
			}
			for _, m := range got {
				if string(std[m.name]) != m.value {
					t.Fatalf("%q: member %q = %q, encoding/json says %q", data, m.name, m.value, std[m.name])
				}
			}
			return
		}
		if stdErr != nil || std == nil || !utf8.Valid(data) || len(std) > MaxMembers {
			return
		}
		// encoding/json decoded an object: object may refuse it only for
		// a duplicate name, which the map has folded.
		if !strings.Contains(err.Error(), "duplicate member") {
			t.Fatalf("object refused %q: %v", data, err)
		}
	})
}

func TestReaders(t *testing.T) {
	var names []string
	err := Object([]byte(`{"iss":"a","aud":["x","y"],"one":"z","exp":1700000000.5,"n":null}`), func(name, raw []byte) error {
		names = append(names, string(name))
		switch string(name) {
		case "iss":
			if s, ok := String(raw); !ok || s != "a" {
				t.Errorf("iss %q %v", s, ok)
			}
		case "aud":
			if l, ok := Strings(raw, false); !ok || strings.Join(l, ",") != "x,y" {
				t.Errorf("aud %v %v", l, ok)
			}
		case "one":
			if l, ok := Strings(raw, true); !ok || len(l) != 1 || l[0] != "z" {
				t.Errorf("one %v %v", l, ok)
			}
			if _, ok := Strings(raw, false); ok {
				t.Error("a lone string taken as a list")
			}
		case "exp":
			if d, ok := Date(raw); !ok || !d.Equal(time.Unix(1700000000, 5e8)) {
				t.Errorf("exp %v %v", d, ok)
			}
		case "n":
			if _, ok := String(raw); ok {
				t.Error("null read as a string")
			}
		}
		return nil
	})
	if err != nil || strings.Join(names, ",") != "iss,aud,one,exp,n" {
		t.Fatalf("%v %v", names, err)
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `{"a":1}{}`, `[]`, "{\"a\":\"\xff\"}"} {
		if Object([]byte(bad), func([]byte, []byte) error { return nil }) == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	for _, bad := range []string{`"1700000000"`, `-1`, `1e300`} {
		if _, ok := Date([]byte(bad)); ok {
			t.Errorf("date %s accepted", bad)
		}
	}
}
