// Package buildinfo reports which ztgate this is: its version, the commit
// it was built from and the Go toolchain that built it.
package buildinfo

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at link time: go build -ldflags "-X github.com/ztgate/ztgate/internal/buildinfo.version=v1.2.3 -X ...commit=abc".
var (
	version = "0.1.0-dev"
	commit  = ""
)

// Info describes a build.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// Get returns this build's information. Without a linked-in commit, the
// commit the go command recorded (if any) is used.
func Get() Info {
	i := Info{Version: version, Commit: commit, Go: runtime.Version()}
	if i.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					i.Commit = s.Value
				}
			}
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}

// Command returns "ztgate version".
func Command() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print ztgate's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			i := Get()
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(i)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ztgate %s\ncommit: %s\ngo: %s\n", i.Version, i.Commit, i.Go)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
