package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// fill sets every field reachable from v, variant choosing between values
// (variant 0 leaves optional fields empty), so that a field added to
// Record and forgotten in appendRecord makes TestEncodeMatchesJSON fail.
func fill(v reflect.Value, variant int, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if variant == 0 && path != "" {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), variant, path)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 29, 10, 1, 2, 3000*variant, time.FixedZone("x", 3600*variant)).UTC()))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), variant, path+"."+v.Type().Field(i).Name)
		}
	case reflect.String:
		if variant == 0 && path != ".EventVersion" {
			return
		}
		strs := []string{"", "plain", "a<b>&\"c\"\\\n\t\r\b\f\x01\x1f\u2028\u2029é\xff\xfe", "日本語 🙂"}
		v.SetString(fmt.Sprintf("%s%s", path, strs[variant%len(strs)]))
	case reflect.Bool:
		v.SetBool(variant%2 == 1)
	case reflect.Int:
		v.SetInt(int64(variant*1000 - 7))
	case reflect.Slice:
		if variant == 0 {
			return
		}
		s := reflect.MakeSlice(v.Type(), variant, variant)
		for i := range variant {
			fill(s.Index(i), variant+i, path)
		}
		v.Set(s)
	case reflect.Map:
		if variant == 0 {
			return
		}
		v.Set(reflect.ValueOf(map[string]any{"b": 1.5, "a": []any{"x<y", true, nil}, "c": map[string]any{"z": "é"}}))
	default:
		panic("fill: unhandled kind " + v.Kind().String() + " at " + path)
	}
}

func TestEncodeMatchesJSON(t *testing.T) {
	for variant := range 4 {
		var r Record
		fill(reflect.ValueOf(&r).Elem(), variant, "")
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendRecord(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("variant %d:\n got %s\nwant %s", variant, got, want)
		}
	}
	for i := range 10 {
		r := decisionRecord(i)
		c, err := prepare(r, time.Now(), "n", "r")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(&c)
		got, err := appendRecord(nil, &c)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("decision %d: %v\n got %s\nwant %s", i, err, got, want)
		}
	}
}

func TestEncodeBadTime(t *testing.T) {
	r := decisionRecord(0)
	r.EventTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := appendRecord(nil, r); err == nil {
		t.Error("a time past year 9999 encoded")
	}
}

func BenchmarkEncode(b *testing.B) {
	r := decisionRecord(1)
	c, _ := prepare(r, time.Now(), "n", "r")
	b.Run("appendRecord", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf, _ = appendRecord(buf[:0], &c)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(&c)
		}
	})
}

// TestAllocs holds the per-record paths to their allocation budgets.
func TestAllocs(t *testing.T) {
	r := decisionRecord(1)
	c, _ := prepare(r, time.Now(), "n", "r")
	buf := make([]byte, 0, 8192)
	rec, _ := appendRecord(nil, &c)
	h := newChainHasher()
	var prev [32]byte
	sum := h.sum(&prev, 1, rec)
	ln := appendLine(nil, 1, &prev, &sum, rec)
	for name, f := range map[string]func(){
		"appendRecord": func() { buf, _ = appendRecord(buf[:0], &c) },
		"chain hash":   func() { sum = h.sum(&prev, 2, rec) },
		"appendLine":   func() { buf = appendLine(buf[:0], 2, &prev, &sum, rec) },
		"parseLine":    func() { parseLine(ln[:len(ln)-1]) },
		"IsSecretName": func() { IsSecretName("X-Amz-Security-Token") },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

// TestAppendAny: the free-form values records carry encode as
// json.Marshal encodes them, whether by hand or through encoding/json.
func TestAppendAny(t *testing.T) {
	for _, v := range []any{
		nil, "", "a<b>&\"c\"\u2028\xff", true, false, 0, -7, int64(1) << 62, int32(-3), uint64(1) << 63,
		1.5, 1e21, float32(0.1), json.Number("12"),
		map[string]any{}, map[string]any(nil), map[string]any{"b": 1, "a": []any{"x", nil, map[string]any{"z": false}}, "é": "<"},
		map[string]string{"k": "v", "a": "&"}, map[string]string(nil),
		[]any{}, []any(nil), []string{"a", "b"}, []string(nil),
		map[string][]string{"X-A": {"1", "2"}}, []int{1, 2}, struct{ A int }{1},
		map[string]any{"n": map[string]any{"m": map[string]string{"q": "r"}, "l": []string{}}},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendAny([]byte("prefix"), v)
		if err != nil || string(got) != "prefix"+string(want) {
			t.Errorf("%#v: %q, %v; want %q", v, got, err, want)
		}
	}
	many := map[string]any{}
	for i := range 40 {
		many[fmt.Sprintf("k%02d", 39-i)] = i
	}
	want, _ := json.Marshal(many)
	if got, _ := appendAny(nil, many); !bytes.Equal(got, want) {
		t.Errorf("40 keys: %s, want %s", got, want)
	}
	if _, err := appendAny(nil, map[string]any{"c": make(chan int)}); err == nil {
		t.Error("a value encoding/json cannot encode was encoded")
	}
}

// FuzzAppendAny holds appendAny to json.Marshal on whatever JSON decodes
// into, and on the same values as the string maps and slices the
// gateway and APIs record.
func FuzzAppendAny(f *testing.F) {
	f.Add([]byte(`{"host":"app.example.com","path":"/x","n":[1,"a",null,{"b":true}]}`))
	f.Add([]byte(`["\u2028<script>", "\ud800", 1e400]`))
	f.Add([]byte(`"\u0000\u001f\u007f"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		check := func(v any) {
			want, werr := json.Marshal(v)
			got, gerr := appendAny(nil, v)
			if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
				t.Fatalf("%#v: %q (%v), want %q (%v)", v, got, gerr, want, werr)
			}
		}
		check(v)
		switch v := v.(type) {
		case map[string]any:
			ss := map[string]string{}
			for k, e := range v {
				ss[k] = fmt.Sprint(e)
			}
			check(ss)
		case []any:
			ss := []string{}
			for _, e := range v {
				ss = append(ss, fmt.Sprint(e))
			}
			check(ss)
		case string:
			check(map[string]any{v: v})
		}
	})
}
