package audit

import (
	"os"
	"syscall"
)

// syncData makes a file's data durable, and the metadata needed to read
// it back (its size), but not its times: fdatasync, which on Linux costs
// less than fsync when only appending.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
