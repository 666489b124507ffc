package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(3, time.Minute, func() time.Time { return now })
	for i := range 3 {
		if !l.Allow("a") {
			t.Fatalf("event %d refused", i)
		}
	}
	if l.Allow("a") || !l.Blocked("a") {
		t.Fatal("the fourth event in the window was allowed")
	}
	if !l.Allow("b") {
		t.Fatal("another key was refused")
	}
	now = now.Add(time.Minute)
	if !l.Allow("a") {
		t.Fatal("the next window was refused")
	}
	l.Add("c")
	l.Add("c")
	l.Add("c")
	l.Reset("c")
	if l.Blocked("c") {
		t.Fatal("Reset kept the count")
	}
	now = now.Add(2 * time.Minute)
	l.Prune()
	if len(l.m) != 0 {
		t.Fatalf("%d keys after Prune", len(l.m))
	}
}

func TestLimiterBounded(t *testing.T) {
	l := New(1, time.Hour, nil)
	for i := range MaxTracked + 10 {
		l.Add(fmt.Sprint(i))
	}
	if len(l.m) > MaxTracked {
		t.Fatalf("%d keys tracked, bound %d", len(l.m), MaxTracked)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "ip:192.0.2.7",
		"::ffff:192.0.2.7":     "ip:192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "ip:2001:db8:1:2::/64",
		"not an address":       "ip:not an address",
	} {
		if got := ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
