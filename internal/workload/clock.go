package workload

import "time"

// Clock is the time the server reads and sleeps on. The project's other
// packages take a func() time.Time; this one also waits, so its clock has
// a second method. At takes an instant rather than a duration so that a
// fake clock advanced between a Now and the wait cannot make a deadline
// slip: a deadline that has already passed fires at once.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock has reached t.
	At(t time.Time) <-chan time.Time
}

// systemClock is the real time.
type systemClock struct{}

var _ Clock = systemClock{}

func (systemClock) Now() time.Time { return time.Now() }

// At relies on Go 1.23's timers, which are collected once unreferenced, so
// a wait abandoned for another event leaks nothing.
func (systemClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }
