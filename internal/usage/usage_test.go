package usage

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func tree() *cobra.Command {
	root := &cobra.Command{Use: "ztgate", SilenceUsage: true, SilenceErrors: true}
	group := &cobra.Command{Use: "ca", Short: "the CA"}
	failed := errors.New("verification failed")
	group.AddCommand(&cobra.Command{Use: "issue NAME", Args: cobra.ExactArgs(1), RunE: func(*cobra.Command, []string) error { return nil }})
	group.AddCommand(&cobra.Command{Use: "verify", RunE: func(*cobra.Command, []string) error { return failed }})
	root.AddCommand(group)
	Enforce(root)
	return root
}

func TestEnforce(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		code  int    // what Report returns
		wants string // in the report
	}{
		{[]string{"ca", "bogus"}, ExitCode, `unknown command "bogus" for "ztgate ca"`},
		{[]string{"bogus"}, ExitCode, `unknown command "bogus"`},
		{[]string{"ca", "issue"}, ExitCode, "Run 'ztgate ca issue --help' for usage."},
		{[]string{"ca", "issue", "a", "b"}, ExitCode, "accepts 1 arg(s)"},
		{[]string{"ca", "issue", "--nope", "a"}, ExitCode, "unknown flag: --nope"},
		{[]string{"ca", "issue", "a"}, 0, ""},
		{[]string{"ca"}, 0, ""},           // alone, a group prints its help
		{[]string{"ca", "verify"}, 0, ""}, // the command's own failure is not a usage error
	} {
		root := tree()
		var help bytes.Buffer
		root.SetOut(&help)
		root.SetArgs(tc.args)
		err := root.Execute()
		var report bytes.Buffer
		code := Report(&report, err)
		if code != tc.code || !strings.Contains(report.String(), tc.wants) {
			t.Errorf("%v: code %d, report %q (err %v); want %d and %q", tc.args, code, report.String(), err, tc.code, tc.wants)
		}
		if len(tc.args) == 1 && tc.args[0] == "ca" && !strings.Contains(help.String(), "issue") {
			t.Errorf("ztgate ca printed no help: %q", help.String())
		}
	}
}
