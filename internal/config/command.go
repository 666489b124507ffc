package config

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// ExitError asks the program to exit with Code. The command that returns it
// has already said what went wrong, so main prints nothing more:
//
//	var exit *config.ExitError
//	if errors.As(err, &exit) {
//		os.Exit(exit.Code)
//	}
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode returns the code to exit with.
func (e *ExitError) ExitCode() int { return e.Code }

// Command returns the "config" command, whose subcommands check a
// configuration file and print its reference and an example.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check configuration files and show every configuration key",
		Long: `Check ztgate configuration files and show what they may contain.

A configuration is one YAML file. Unknown keys, duplicate keys and values of
the wrong type are errors, reported with file, line and column.`,
	}
	cmd.AddCommand(validateCommand(), referenceCommand(), exampleCommand())
	return cmd
}

func validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check configuration files without starting ztgate",
		Long: `Check each configuration file as ztgate would when starting: its YAML
syntax, every key, the type of every value and the rules on values (log
levels, store driver, listen address, connection string, limits, IAM names
and the policies and groups they refer to, JSON of policy documents, OIDC
issuer URLs).

A valid file prints "FILE: valid". An invalid one prints every problem to
standard error, one per line as FILE:LINE:COLUMN: KEY: PROBLEM, and the
command exits with status 1. The PostgreSQL connection string is checked
without connecting, and never printed.`,
		Example: `  ztgate config validate /etc/ztgate/config.yaml
  ztgate config validate staging.yaml production.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// From here on, failures are about the files, not the command
			// line, so cobra's usage text would only bury them.
			cmd.SilenceUsage = true
			invalid := false
			for _, file := range args {
				ok, err := validateFile(cmd.OutOrStdout(), cmd.ErrOrStderr(), file)
				if err != nil {
					return err
				}
				invalid = invalid || !ok
			}
			if invalid {
				cmd.SilenceErrors = true
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
}

// validateFile checks one file and reports it valid to stdout or each
// problem to stderr. An error means the file could not be checked at all.
func validateFile(stdout, stderr io.Writer, file string) (bool, error) {
	_, err := Load(file)
	var errs Errors
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "%s: valid\n", file)
		return true, nil
	case errors.As(err, &errs):
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		return false, nil
	}
	return false, err
}

func referenceCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "reference",
		Short: "Print the reference of every configuration key, in Markdown",
		Long: `Print the reference of every configuration key as Markdown: its path, type,
default and meaning. docs/config.md holds the same text.`,
		Example: `  ztgate config reference > config-reference.md`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), Reference())
			return err
		},
	}
}

func exampleCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "example",
		Short: "Print an example configuration file with every key at its default",
		Long: `Print a configuration file that sets every key to its default, each with
its description as a comment. Edit what you need and delete the rest.`,
		Example: `  ztgate config example > config.yaml
  ztgate config validate config.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), Example())
			return err
		},
	}
}
