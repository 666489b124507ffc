package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/store"
)

// Command returns "ztgate store", the low-level record commands that talk
// to a running node through its control socket.
func Command() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Read and write records of a running node, and follow its change feed",
		Long: `Low-level access to the state store of a running node, through the control
socket in its data directory (only the directory's owner can use it).

Records are named by a kind and a key. Writes made here reach every node
sharing the store through the change feed, as any other write does. Other
ztgate commands manage typed state (policies, users, certificates); prefer
them: values written here are not validated.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "data-dir", datadir.Default, "data directory of the running node")
	client := func() (*Client, error) {
		d, err := datadir.Abs(dir)
		if err != nil {
			return nil, err
		}
		return NewClient(d.Socket()), nil
	}
	get := &cobra.Command{
		Use:   "get KIND KEY",
		Short: "Print a record's value",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Here, where the names are the user's: in a URL an empty one
			// would vanish, and another part be taken for it.
			if err := store.CheckName(args[0], args[1]); err != nil {
				return err
			}
			c, err := client()
			if err != nil {
				return err
			}
			var r RecordJSON
			if err := c.do(cmd.Context(), http.MethodGet, recordPath(args[0], args[1]), nil, &r); err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(r.Value)
			return err
		},
	}
	put := &cobra.Command{
		Use:     "put KIND KEY [VALUE|-]",
		Short:   "Create or replace a record (value from the argument, or stdin with - or none)",
		Args:    cobra.RangeArgs(2, 3),
		Example: "  ztgate store put note hello 'world'\n  echo world | ztgate store put note hello -",
		RunE: func(cmd *cobra.Command, args []string) error {
			// Here, where the names are the user's: in a URL an empty one
			// would vanish, and another part be taken for it.
			if err := store.CheckName(args[0], args[1]); err != nil {
				return err
			}
			c, err := client()
			if err != nil {
				return err
			}
			var value []byte
			if len(args) == 3 && args[2] != "-" {
				value = []byte(args[2])
			} else if value, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), store.MaxValueLen+1)); err != nil {
				return err
			}
			var rev revisionJSON
			if err := c.do(cmd.Context(), http.MethodPut, recordPath(args[0], args[1]), bytes.NewReader(value), &rev); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revision %d\n", rev.Revision)
			return nil
		},
	}
	del := &cobra.Command{
		Use:   "delete KIND KEY",
		Short: "Delete a record",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Here, where the names are the user's: in a URL an empty one
			// would vanish, and another part be taken for it.
			if err := store.CheckName(args[0], args[1]); err != nil {
				return err
			}
			c, err := client()
			if err != nil {
				return err
			}
			var rev revisionJSON
			if err := c.do(cmd.Context(), http.MethodDelete, recordPath(args[0], args[1]), nil, &rev); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revision %d\n", rev.Revision)
			return nil
		},
	}
	var prefix string
	list := &cobra.Command{
		Use:   "list KIND",
		Short: "List records of a kind as JSON lines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var rs []RecordJSON
			if err := c.do(cmd.Context(), http.MethodGet, "/v1/records/"+url.PathEscape(args[0])+"?prefix="+url.QueryEscape(prefix), nil, &rs); err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			for _, r := range rs {
				line := map[string]any{"kind": r.Kind, "key": r.Key, "revision": r.Revision, "updated": r.Updated}
				if utf8.Valid(r.Value) {
					line["value"] = string(r.Value)
				} else {
					line["value_base64"] = r.Value
				}
				enc.Encode(line)
			}
			return nil
		},
	}
	list.Flags().StringVar(&prefix, "prefix", "", "only keys starting with this")
	var after int64
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Print changes as JSON lines as they reach this node, until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			enc := json.NewEncoder(cmd.OutOrStdout())
			return c.Watch(ctx, after, func(ch store.Change) error { return enc.Encode(ch) })
		},
	}
	watch.Flags().Int64Var(&after, "after", -1, "start after this revision (default: from now)")
	cmd.AddCommand(get, put, del, list, watch)
	return cmd
}

func recordPath(kind, key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/v1/records/" + url.PathEscape(kind) + "/" + strings.Join(parts, "/")
}

// holderOf names the IAM record (kind and key) behind a principal ARN
// whose sessions can be revoked: a user, or the role of a role or role
// session; "" for anything else.
func holderOf(principal string) (kind, name string) {
	_, res, ok := strings.Cut(principal, ":user/")
	if ok && strings.HasPrefix(principal, "arn:") {
		return "iam-user", res[strings.LastIndexByte(res, '/')+1:]
	}
	if _, res, ok = strings.Cut(principal, ":role/"); ok {
		return "iam-role", res[strings.LastIndexByte(res, '/')+1:]
	}
	if _, res, ok = strings.Cut(principal, ":assumed-role/"); ok {
		role, _, _ := strings.Cut(res, "/")
		return "iam-role", role
	}
	return "", ""
}

// SessionCommand returns "ztgate session", which acts on the temporary
// credentials (STS sessions) of a running node's principals.
func SessionCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "session",
		Short: "Act on the temporary credentials of a running node's principals",
	}
	cmd.PersistentFlags().StringVar(&dir, "data-dir", datadir.Default, "data directory of the running node")
	var principal, reason string
	revoke := &cobra.Command{
		Use:   "revoke --principal ARN [--reason TEXT]",
		Short: "Refuse every temporary credential of a principal issued until now",
		Long: `Refuse every temporary credential (session token) issued to a principal
until now, on every node sharing the store, from their next request on.
The principal is a user ARN (its GetSessionToken sessions), a role ARN
(every session of the role, however assumed: the aws:TokenIssueTime
pattern without writing the policy) or one role session's ARN
(arn:zt:sts::ACCOUNT:assumed-role/ROLE/SESSION). Credentials issued
afterwards, and the principal's long-term access keys, keep working. The
revocation is recorded in the audit log.`,
		Example: "  ztgate session revoke --principal arn:zt:iam::000000000000:user/admin --reason 'laptop lost'\n  ztgate session revoke --principal arn:zt:iam::000000000000:role/deployer",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := datadir.Abs(dir)
			if err != nil {
				return err
			}
			c := NewClient(d.Socket())
			out, err := c.RevokeSessions(cmd.Context(), principal, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sessions of %s issued before %s revoked (revision %d)\n", out.Principal, out.Before.Format(time.RFC3339), out.Revision)
			if kind, name := holderOf(principal); kind != "" {
				if _, err := c.Get(cmd.Context(), kind, name); err != nil && strings.Contains(err.Error(), "not found") {
					// A typo, or a name in another case, would look like a
					// revocation and revoke nothing.
					fmt.Fprintf(cmd.ErrOrStderr(), "note: no %s named %s exists now; check the ARN (names are compared exactly)\n", strings.TrimPrefix(kind, "iam-"), name)
				}
			}
			return nil
		},
	}
	revoke.Flags().StringVar(&principal, "principal", "", "ARN of the principal whose sessions are revoked (required)")
	revoke.Flags().StringVar(&reason, "reason", "", "why, recorded with the revocation and in the audit log")
	revoke.MarkFlagRequired("principal")
	cmd.AddCommand(revoke)
	return cmd
}
