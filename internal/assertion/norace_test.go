//go:build !race

package assertion

const raceEnabled = false
