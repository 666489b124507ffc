package authz

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/policy"
)

// ExitError asks main to exit with Code; the command has already printed
// what went wrong.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode returns the code to exit with.
func (e *ExitError) ExitCode() int { return e.Code }

// Exit codes of the policy commands.
const (
	exitProblems = 1 // policies with problems, failing tests
	exitInput    = 2 // unreadable or invalid input
)

// Command returns "ztgate policy".
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Validate policies, simulate decisions and run policy tests",
		Long: `Work with policies in the AWS IAM policy language, as ztgate evaluates them:
validate documents, decide a request against given policies, and run the
policy tests kept beside your policies (see docs/policy.md).`,
	}
	cmd.AddCommand(validateCommand(), simulateCommand(), testCommand())
	return cmd
}

var kinds = map[string]policy.Kind{
	"identity":           policy.Identity,
	"resource":           policy.Resource,
	"trust":              policy.Trust,
	"boundary":           policy.Boundary,
	"guardrail":          policy.Guardrail,
	"resource-guardrail": policy.ResourceGuardrail,
	"session":            policy.Session,
}

func validateCommand() *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check policy documents; print file:line:col: message per problem",
		Long: `Check policy documents. Each problem is printed as file:line:col: message,
in AWS IAM's wording where AWS has one; "-" reads standard input. A
malformed policy variable, which ztgate cannot evaluate, is a problem too.
A condition that can never match (a value its operator cannot read, a key
with no values), which AWS accepts and evaluates as false, is a warning.
Exit 0 when every file is clean or has warnings only, 1 when any has
problems, 2 when a file cannot be read.`,
		Example: "  ztgate policy validate policies/*.json\n  ztgate policy validate --kind resource bucket-policy.json\n  ztgate policy validate - < policy.json",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, ok := kinds[kind]
			if !ok {
				fmt.Fprintf(cmd.ErrOrStderr(), "--kind %q: want one of identity, resource, trust, boundary, guardrail, resource-guardrail, session\n", kind)
				return &ExitError{exitInput}
			}
			code := 0
			for _, f := range args {
				var data []byte
				var err error
				if f == "-" {
					data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxRequestBytes))
				} else {
					data, err = os.ReadFile(f)
				}
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", f, err)
					code = exitInput
					continue
				}
				doc, errs := policy.Check(data, k)
				var warns policy.Errors
				if len(errs) == 0 {
					errs, warns = policy.Assess(doc)
				}
				report := func(prefix string, es policy.Errors) {
					for _, e := range es {
						// AWS's wording first; what exactly is wrong after it.
						msg := e.Msg
						if e.Detail != "" {
							msg += " (" + e.Detail + ")"
						}
						fmt.Fprintf(cmd.OutOrStdout(), "%s:%d:%d: %s%s\n", f, e.Pos.Line, e.Pos.Col, prefix, msg)
					}
				}
				report("", errs)
				if len(errs) == 0 {
					report("warning: ", warns)
				}
				if len(errs) > 0 && code == 0 {
					code = exitProblems
				}
			}
			if code != 0 {
				return &ExitError{code}
			}
			return nil
		},
	}
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.Flags().StringVar(&kind, "kind", "identity", "how the policies are used: identity, resource, trust, boundary, guardrail, resource-guardrail, session")
	return cmd
}

func simulateCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "simulate --request FILE",
		Short: "Decide one request document and print the decision as JSON",
		Long: `Decide one request against the policies it carries and print
{"decision": "allowed"|"explicitDeny"|"implicitDeny", "matchedStatements": [...]}.
Exit 0 when the request was evaluated (whatever the decision), 2 when the
input is invalid. The request document is described in docs/policy.md.`,
		Example: `  ztgate policy simulate --request req.json
  echo '{"principal":"arn:zt:iam::111122223333:user/alice","action":"s3:GetObject","resource":"*",
         "identityPolicies":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}]}' |
    ztgate policy simulate --request -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var data []byte
			var err error
			switch file {
			case "":
				fmt.Fprintln(cmd.ErrOrStderr(), "--request FILE is required (- for standard input)")
				return &ExitError{exitInput}
			case "-":
				data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxRequestBytes))
			default:
				data, err = os.ReadFile(file)
			}
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "read request: %v\n", err)
				return &ExitError{exitInput}
			}
			res, err := Simulate(data, time.Now())
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return &ExitError{exitInput}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		},
	}
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.Flags().StringVar(&file, "request", "", "request document (JSON), - for standard input")
	return cmd
}

// maxRequestBytes bounds a request document read from standard input.
const maxRequestBytes = 16 << 20
