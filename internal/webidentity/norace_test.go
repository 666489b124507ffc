//go:build !race

package webidentity

const raceEnabled = false
