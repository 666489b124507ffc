// Command ztgate is a self-hosted zero trust access platform in one binary.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/agent"
	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/audit/index"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/buildinfo"
	"github.com/ztgate/ztgate/internal/config"
	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/device"
	"github.com/ztgate/ztgate/internal/iamapi"
	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/serve"
	"github.com/ztgate/ztgate/internal/usage"
)

func main() {
	root := &cobra.Command{
		Use:           "ztgate",
		Short:         "ztgate: zero trust access to your applications, services and devices",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	iamCmd := iamapi.Command()
	iamCmd.AddCommand(serve.BootstrapAdminCommand())
	auditCmd := audit.Command()
	auditCmd.AddCommand(index.Commands()...)
	root.AddCommand(serve.Command(), datadir.InitCommand(), config.Command(), authz.Command(), auditCmd, control.Command(), control.SessionCommand(), iamCmd, pki.Command(), agent.Command(), device.Command(), buildinfo.Command())
	usage.Enforce(root)
	if err := root.Execute(); err != nil {
		if code := usage.Report(os.Stderr, err); code != 0 {
			os.Exit(code)
		}
		var exit interface{ ExitCode() int }
		if errors.As(err, &exit) { // already reported
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "ztgate:", err)
		os.Exit(1)
	}
}
