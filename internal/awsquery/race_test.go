//go:build race

package awsquery_test

// raceEnabled: the race detector's instrumentation allocates, so
// allocation budgets are not checked under it.
const raceEnabled = true
