//go:build !race

package awsquery_test

const raceEnabled = false
