package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse and Validate. Neither may panic;
// parsing is deterministic; every position points where it should; and the
// JSON reader agrees with encoding/json on what it accepts and on the
// values it reads.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/parse/*.json")
	more, _ := filepath.Glob("testdata/check/*/*.json")
	for _, file := range append(files, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		again, err2 := Parse(data)
		if !reflect.DeepEqual(doc, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("two parses differ:\n%v %v\n%v %v", doc, err, again, err2)
		}
		if err != nil {
			if doc != nil {
				t.Fatal("Parse returned a document with its errors")
			}
			errs, ok := err.(Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("Parse error %T %v is not a non-empty Errors", err, err)
			}
			checkErrorPositions(t, data, errs)
		} else {
			if msg := checkPositions(data, doc); msg != "" {
				t.Fatal(msg)
			}
			for k := Identity; k <= Session; k++ {
				errs := Validate(doc, k)
				checkErrorPositions(t, data, errs)
				if !reflect.DeepEqual(errs, Validate(doc, k)) {
					t.Fatalf("two validations as %s differ", k)
				}
			}
		}
		compareWithEncodingJSON(t, data)
	})
}

// compareWithEncodingJSON holds the JSON reader to encoding/json: what it
// accepts, encoding/json accepts and decodes to the same values; what it
// rejects and encoding/json accepts, it rejects for one of its deliberate
// extra rules.
func compareWithEncodingJSON(t *testing.T, data []byte) {
	if len(data) > MaxSize {
		return
	}
	v, jerr := readJSON(data)
	valid := json.Valid(data)
	if jerr != nil {
		if valid && !deliberate(jerr.Detail) {
			t.Fatalf("rejected JSON encoding/json accepts: %v", jerr)
		}
		return
	}
	if !valid {
		t.Fatalf("accepted JSON encoding/json rejects:\n%q", data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if got := plain(v); !reflect.DeepEqual(got, want) {
		t.Fatalf("read %#v, encoding/json reads %#v", got, want)
	}
}

// deliberate reports whether a reader error is one of the rules it adds to
// JSON's grammar.
func deliberate(detail string) bool {
	for _, d := range []string{"duplicate key", "nesting deeper", "invalid UTF-8", "unpaired surrogate"} {
		if strings.HasPrefix(detail, d) {
			return true
		}
	}
	return false
}

// plain converts a JSON tree to the values encoding/json decodes into.
func plain(v *jsonValue) any {
	switch v.kind {
	case jsonString:
		return v.text
	case jsonNumber:
		return json.Number(v.text)
	case jsonBool:
		return v.text == "true"
	case jsonNull:
		return nil
	case jsonArray:
		out := make([]any, len(v.elems))
		for i, e := range v.elems {
			out[i] = plain(e)
		}
		return out
	case jsonObject:
		out := make(map[string]any, len(v.members))
		for _, m := range v.members {
			out[m.key] = plain(m.value)
		}
		return out
	}
	return nil
}
