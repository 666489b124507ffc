package workload

import (
	"bytes"
	"errors"
	"strconv"
)

var errStat = errors.New("malformed /proc/PID/stat")

// parseStartTime returns field 22 of /proc/PID/stat: when the process
// started, in clock ticks since boot. Field 2 is the command name in
// parentheses, which the process chooses and which may itself contain
// spaces and parentheses, so the fields are counted from the last ')'.
func parseStartTime(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || bytes.IndexByte(stat, '(') < 0 || bytes.IndexByte(stat, '(') > i {
		return 0, errStat
	}
	rest := bytes.TrimRight(stat[i+1:], "\n")
	fields := bytes.Fields(rest)
	const startTime = 22 - 3 // fields after the name start at field 3
	if len(fields) <= startTime {
		return 0, errStat
	}
	n, err := strconv.ParseUint(string(fields[startTime]), 10, 64)
	if err != nil {
		return 0, errStat
	}
	return n, nil
}
