package iamapi

import "testing"

// FuzzDocument: a policy document survives AWS's percent-encoding both
// ways, whatever its bytes, and the encoding holds only what a client
// cannot misread ('+' and spaces included).
func FuzzDocument(f *testing.F) {
	for _, s := range []string{trustDoc, "a+b c", "100%", "é\x00\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := document(s).MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b {
			if c == '+' || c == ' ' || c >= 0x80 {
				t.Fatalf("%q encodes to %q", s, b)
			}
		}
		var d document
		if err := d.UnmarshalText(b); err != nil || string(d) != s {
			t.Fatalf("%q: round trip gave %q, %v", s, d, err)
		}
	})
}
