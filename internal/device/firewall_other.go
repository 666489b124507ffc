//go:build !linux

package device

import "errors"

// kernelFirewall reads nothing where there is no Linux kernel.
type kernelFirewall struct{}

var _ firewallProbe = kernelFirewall{}

var errNotLinux = errors.New("not a linux kernel")

func (kernelFirewall) nftInput() (int, bool, error) { return 0, false, errNotLinux }

func (kernelFirewall) legacyInput(bool) (int, error) { return 0, errNotLinux }
