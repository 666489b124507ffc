//go:build unix

package secret

import "syscall"

func setUmask(mask int) int { return syscall.Umask(mask) }
