package keys

import "testing"

func TestPairs(t *testing.T) {
	p := Pairs{{Key: "aws:username", Values: Single("alice")}, {Key: "aws:TagKeys", Values: List([]string{"a", "b"})}}
	if v, ok := p.Lookup("aws:username"); !ok || v.At(0) != "alice" || v.Multi() {
		t.Errorf("exact: %v %v", v, ok)
	}
	if v, ok := p.Lookup("AWS:tagkeys"); !ok || v.Len() != 2 || !v.Multi() {
		t.Errorf("folded: %v %v", v, ok)
	}
	if _, ok := p.Lookup("aws:userid"); ok {
		t.Error("a missing key was found")
	}
	if n := testing.AllocsPerRun(100, func() { p.Lookup("AWS:TAGKEYS") }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
	m := Map{"aws:SourceIp": Single("10.0.0.1")}
	if v, ok := m.Lookup("aws:sourceip"); !ok || v.At(0) != "10.0.0.1" {
		t.Errorf("Map folded lookup: %v %v", v, ok)
	}
}
