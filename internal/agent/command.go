package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/control"
	"github.com/ztgate/ztgate/internal/datadir"
)

// Command returns "ztgate agent": the host agent ("run") and the
// administration of agents and their registration entries on a running
// node, through its control socket.
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the host agent, and manage agents and their workload registration entries",
		Long: `The host agent gives the processes of its host SPIFFE X509-SVIDs through the
Workload API on a local socket. It joins a ztgate node once with a one-time
join token, and then renews its own identity with it.

The other subcommands act on the running node at --data-dir (through its
owner-only control socket): join tokens, agents and their revocation, and the
registration entries that say which workloads (by Unix uid, gid, user, group
or binary path) get which SPIFFE ID from which agent. Every change is recorded
in the audit log.`,
		Example: `  # on the server
  ztgate agent token create --name web1
  ztgate agent entry create --parent web1 --spiffe-id spiffe://ztgate.local/billing --selector unix:uid:1000
  ztgate ca show --format bundle > bundle.json
  # on the host (once with the token, then without)
  ztgate agent run --server https://ztgate.example:8443 --trust-bundle bundle.json --join-token ztgate-join-...`,
	}
	cmd.AddCommand(RunCommand(), tokenCommand(), listCommand(), revokeCommand(), entryCommand())
	return cmd
}

// nodeDir is the --data-dir of the node the administration commands
// talk to.
type nodeDir struct{ dir string }

func (n *nodeDir) flag(c *cobra.Command, persistent bool) {
	fs := c.Flags()
	if persistent {
		fs = c.PersistentFlags()
	}
	fs.StringVar(&n.dir, "data-dir", datadir.Default, "data directory of the running node")
}

func (n *nodeDir) do(cmd *cobra.Command, method, path string, body, out any) error {
	d, err := datadir.Abs(n.dir)
	if err != nil {
		return err
	}
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	return control.NewClient(d.Socket()).Do(cmd.Context(), method, path, rd, out)
}

func tokenCommand() *cobra.Command {
	var n nodeDir
	cmd := &cobra.Command{Use: "token", Short: "Create join tokens"}
	n.flag(cmd, true)
	var name string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create --name NAME [--ttl 1h]",
		Short: "Create a one-time join token for an agent (printed once, on stdout)",
		Long: `Create a one-time token that lets one agent join under NAME, with the
identity spiffe://TRUST_DOMAIN/ztgate/agent/NAME. The token is printed on
stdout and never again: the node keeps only its SHA-256. It works once, until
it expires (1h by default, at most 24h). Giving a token for the name of an
agent that has joined lets that agent join again (its old certificates are
then revoked); a revoked agent's name cannot join again.`,
		Example: "  ztgate agent token create --name web1\n  TOKEN=$(ztgate agent token create --name web1 --ttl 15m)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := TokenRequest{Name: name}
			if ttl != 0 {
				req.TTL = ttl.String()
			}
			var out TokenResponse
			if err := n.do(cmd, http.MethodPost, ControlPrefix+"/tokens", req, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "join token %s for agent %s (%s), valid until %s; it is shown only now:\n",
				out.ID, out.Name, out.SPIFFEID, out.Expires.Format(time.RFC3339))
			fmt.Fprintln(cmd.OutOrStdout(), out.Token)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "the agent's name: 1-63 of a-z 0-9 . _ - (required)")
	create.Flags().DurationVar(&ttl, "ttl", DefaultTokenTTL, "how long the token can be used")
	create.MarkFlagRequired("name")
	cmd.AddCommand(create)
	return cmd
}

func listCommand() *cobra.Command {
	var n nodeDir
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the agents that have joined",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out AgentsResponse
			if err := n.do(cmd, http.MethodGet, ControlPrefix+"/agents", nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, out.Agents)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tSPIFFE ID\tJOINED\tSERIAL\tCERT EXPIRES")
			for _, a := range out.Agents {
				status := "active"
				if a.Revoked {
					status = "revoked"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, status, a.SPIFFEID,
					a.Joined.Format(time.RFC3339), a.Serial, a.NotAfter.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	n.flag(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func revokeCommand() *cobra.Command {
	var n nodeDir
	var name, reason string
	cmd := &cobra.Command{
		Use:   "revoke --name NAME [--reason TEXT]",
		Short: "Revoke an agent: every node refuses it and its certificates",
		Long: `Revoke an agent: every node refuses its calls (renewal, entries, workload
SVIDs) from its next request, and its certificates are revoked through the
certificate authority, which every node learns through the change feed. The
SVIDs its workloads already hold stay valid until they expire (one hour by
default). A revoked agent's name cannot join again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out RevokeResponse
			if err := n.do(cmd, http.MethodPost, ControlPrefix+"/agents/"+url.PathEscape(name)+"/revoke", RevokeRequest{Reason: reason}, &out); err != nil {
				return err
			}
			serials := "none"
			if len(out.Serials) > 0 {
				serials = strings.Join(out.Serials, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "agent %s revoked; certificates revoked now: %s\n", out.Agent.Name, serials)
			return nil
		},
	}
	n.flag(cmd, false)
	cmd.Flags().StringVar(&name, "name", "", "the agent's name (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the revocation and in the audit log")
	cmd.MarkFlagRequired("name")
	return cmd
}

func entryCommand() *cobra.Command {
	var n nodeDir
	cmd := &cobra.Command{
		Use:   "entry",
		Short: "Create, list and delete workload registration entries",
		Long: `A registration entry grants a SPIFFE ID to the processes, on the hosts of
one agent (its parent), that have every one of its selectors:

  unix:uid:N         unix:gid:N
  unix:user:NAME     unix:group:NAME
  unix:path:/abs/path/of/the/binary

Select on the uid (or user) as well as on a path: the kernel fixes the uid
at connect time, while a path can be borrowed (see the Workload API's
documentation). SPIFFE IDs under /ztgate/ and /device/ are reserved.`,
	}
	n.flag(cmd, true)

	var req EntryRequest
	var ttl time.Duration
	create := &cobra.Command{
		Use:     "create --spiffe-id ID --parent NAME --selector unix:KIND:VALUE [--selector ...] [--ttl 1h]",
		Short:   "Create a registration entry (prints its id)",
		Example: "  ztgate agent entry create --spiffe-id spiffe://ztgate.local/billing --parent web1 --selector unix:uid:1000 --selector unix:path:/usr/local/bin/billing",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl != 0 {
				req.TTL = ttl.String()
			}
			var out EntryJSON
			if err := n.do(cmd, http.MethodPost, ControlPrefix+"/entries", req, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.ID)
			return nil
		},
	}
	create.Flags().StringVar(&req.SPIFFEID, "spiffe-id", "", "the SPIFFE ID granted (required)")
	create.Flags().StringVar(&req.Parent, "parent", "", "the agent whose workloads may get it (required)")
	create.Flags().StringArrayVar(&req.Selectors, "selector", nil, "unix:KIND:VALUE, all of which a workload must have (at least one)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "the X509-SVIDs' lifetime (default: the certificate authority's)")
	create.MarkFlagRequired("spiffe-id")
	create.MarkFlagRequired("parent")
	create.MarkFlagRequired("selector")

	var parent string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--parent NAME]",
		Short: "List registration entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out EntriesResponse
			if err := n.do(cmd, http.MethodGet, ControlPrefix+"/entries?parent="+url.QueryEscape(parent), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, out.Entries)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPARENT\tSPIFFE ID\tTTL\tSELECTORS")
			for _, e := range out.Entries {
				t := e.TTL
				if t == "" {
					t = "default"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.Parent, e.SPIFFEID, t, strings.Join(e.Selectors, " "))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&parent, "parent", "", "only the entries of this agent")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var id string
	del := &cobra.Command{
		Use:   "delete (ID | --id ID)",
		Short: "Delete a registration entry",
		Long: `Delete a registration entry, named by its id (as "ztgate agent entry list"
shows it), as an argument or with --id. Its agent stops handing out its
SPIFFE ID at its next sync (within seconds); SVIDs already handed out stay
valid until they expire.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if id != "" && id != args[0] {
					return fmt.Errorf("two entry ids: %q and --id %q", args[0], id)
				}
				id = args[0]
			}
			if id == "" {
				return fmt.Errorf("give the entry's id: ztgate agent entry delete ID")
			}
			var out EntryJSON
			if err := n.do(cmd, http.MethodDelete, ControlPrefix+"/entries/"+url.PathEscape(id), nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "entry %s (%s, agent %s) deleted\n", out.ID, out.SPIFFEID, out.Parent)
			return nil
		},
	}
	del.Flags().StringVar(&id, "id", "", "the entry's id (or give it as the argument)")
	cmd.AddCommand(create, list, del)
	return cmd
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
