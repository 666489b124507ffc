// Package usage makes a command tree's usage errors plain: an unknown
// subcommand, a missing or extra argument and a bad flag are reported as
// such, and exit with status 2, apart from the status 1 that commands
// give for what they found (invalid configuration, problems in a policy,
// a failed verification).
package usage

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// ExitCode is the exit status of a usage error.
const ExitCode = 2

// Error is a usage error: the command line, not what it names, is wrong.
type Error struct {
	Cmd *cobra.Command
	Err error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the error of the command line.
func (e *Error) Unwrap() error { return e.Err }

// Enforce walks the tree under root: a command that only groups others
// refuses an unknown subcommand instead of printing its help and
// succeeding (alone, it still prints its help), and the argument checks and flag errors of every command
// return *Error.
func Enforce(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &Error{Cmd: c, Err: err} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			c.Args = func(c *cobra.Command, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath())
				}
				return nil
			}
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		}
		if check := c.Args; check != nil {
			c.Args = func(c *cobra.Command, args []string) error {
				if err := check(c, args); err != nil {
					return &Error{Cmd: c, Err: err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// Report prints err if it is a usage error, with where to find the
// command's usage, and returns ExitCode; else it returns 0 and prints
// nothing.
func Report(w interface{ Write([]byte) (int, error) }, err error) int {
	var ue *Error
	if !errors.As(err, &ue) {
		return 0
	}
	fmt.Fprintf(w, "ztgate: %v\nRun '%s --help' for usage.\n", ue.Err, ue.Cmd.CommandPath())
	return ExitCode
}
