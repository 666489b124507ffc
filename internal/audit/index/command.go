package index

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/config"
	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/store/sqlstore"
)

// Commands returns the audit subcommands that work through the index:
// query, export and reindex.
func Commands() []*cobra.Command {
	return []*cobra.Command{queryCommand(), exportCommand(), reindexCommand()}
}

// open opens the index of a data directory and brings it up to date with
// the segments.
func open(ctx context.Context, dataDir string, errOut io.Writer) (*Index, error) {
	d, err := datadir.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	dir := d.Path("audit")
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no audit log in %s: %w", d, err)
	}
	x, err := Open(dir)
	if err != nil {
		return nil, err
	}
	// A running count of the records indexed, redrawn at most once a
	// second (the first time after a second: most updates take less),
	// and the total at the end when it was shown at all.
	start, last := time.Now(), time.Time{}
	n, err := x.Update(ctx, func(n int64) {
		if time.Since(start) > time.Second && time.Since(last) > time.Second {
			fmt.Fprintf(errOut, "\rindexing: %d records", n)
			last = time.Now()
		}
	})
	if !last.IsZero() {
		fmt.Fprintf(errOut, "\rindexing: %d records, done\n", n)
	}
	if err != nil {
		x.Close()
		return nil, fmt.Errorf("index the audit log: %w", err)
	}
	return x, nil
}

// source opens what query and export read: with a configuration whose
// store is PostgreSQL, the table of every node's records, once the local
// log (if any) is shipped there; otherwise the local index. The
// configuration is configFile, else config.yaml in the data directory
// when there is one.
func source(ctx context.Context, dataDir, configFile string, errOut io.Writer) (Querier, func(), error) {
	d, err := datadir.Abs(dataDir)
	if err != nil {
		return nil, nil, err
	}
	if configFile == "" {
		if _, err := os.Stat(d.Config()); err == nil {
			configFile = d.Config()
		}
	}
	if configFile != "" {
		cfg, err := config.Load(configFile)
		if err != nil {
			return nil, nil, err
		}
		if cfg.Store.Driver == sqlstore.Postgres {
			return openTable(ctx, cfg, d, errOut)
		}
	}
	x, err := open(ctx, dataDir, errOut)
	if err != nil {
		return nil, nil, err
	}
	return x, func() { x.Close() }, nil
}

// openTable connects to the PostgreSQL store of cfg and ships the records
// of the data directory's log first, as a running node would within
// seconds.
func openTable(ctx context.Context, cfg *config.Config, d datadir.Dir, errOut io.Writer) (Querier, func(), error) {
	st, err := sqlstore.Open(ctx, sqlstore.Options{
		Driver:         sqlstore.Postgres,
		DSN:            cfg.Store.Postgres.DSN,
		Node:           cfg.Node.Name,
		MaxConns:       2,
		ConnectTimeout: cfg.Store.Postgres.ConnectTimeout.D(),
	})
	if err != nil {
		return nil, nil, err
	}
	t := NewTable(st.DB())
	if _, err := os.Stat(d.Path("audit")); err == nil {
		x, err := open(ctx, string(d), errOut)
		if err == nil {
			_, err = t.Ship(ctx, x)
			x.Close()
		}
		if err != nil {
			st.Close()
			return nil, nil, fmt.Errorf("ship the local audit log: %w", err)
		}
	}
	return t, func() { st.Close() }, nil
}

// parseTime reads an RFC 3339 time, a date, or a duration back from now
// ("24h", "90m"). A date as the upper bound includes its whole day, as
// ztgate audit verify reads it.
func parseTime(s string, now time.Time, upper bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration back from now cannot be negative", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if upper {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, YYYY-MM-DD, or a duration such as 24h)", s)
}

type filterFlags struct {
	dataDir, configFile, from, to string
	f                             Filter
}

func (ff *filterFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&ff.dataDir, "data-dir", datadir.Default, "data directory")
	fl.StringVar(&ff.configFile, "config", "", "configuration file (default: config.yaml in the data directory, when present); with store.driver postgres, every node's records are searched there")
	fl.StringVar(&ff.from, "from", "", "records at or after this time (RFC 3339, YYYY-MM-DD, or a duration back from now: 24h)")
	fl.StringVar(&ff.to, "to", "", "records before this time")
	fl.StringVar(&ff.f.Principal, "principal", "", "caller ARN (userIdentity.arn)")
	fl.StringVar(&ff.f.Action, "action", "", `action as decided ("http:GET", "sts:AssumeRole")`)
	fl.StringVar(&ff.f.Resource, "resource", "", "resource ARN")
	fl.StringVar(&ff.f.Decision, "decision", "", "allowed, explicitDeny or implicitDeny")
	fl.StringVar(&ff.f.SourceIP, "source-ip", "", "source IP address")
	fl.StringVar(&ff.f.Device, "device", "", "device id")
	fl.StringVar(&ff.f.ErrorCode, "error-code", "", `error code ("AccessDenied")`)
	fl.StringVar(&ff.f.Node, "node", "", "node that wrote the record")
}

func (ff *filterFlags) filter() (Filter, error) {
	f := ff.f
	now := time.Now()
	var err error
	if f.From, err = parseTime(ff.from, now, false); err != nil {
		return f, fmt.Errorf("--from: %w", err)
	}
	if f.To, err = parseTime(ff.to, now, true); err != nil {
		return f, fmt.Errorf("--to: %w", err)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, fmt.Errorf("--from %s is not before --to %s", ff.from, ff.to)
	}
	switch f.Decision {
	case "", "allowed", "explicitDeny", "implicitDeny":
	default:
		return f, fmt.Errorf("--decision %q: want allowed, explicitDeny or implicitDeny", f.Decision)
	}
	if f.SourceIP != "" {
		if _, err := netip.ParseAddr(f.SourceIP); err != nil {
			return f, fmt.Errorf("--source-ip %q is not an IP address", f.SourceIP)
		}
	}
	return f, nil
}

func queryCommand() *cobra.Command {
	var ff filterFlags
	var format string
	cmd := &cobra.Command{
		Use:   "query",
		Short: "Find audit records by time, principal, action, resource, decision, source IP, device or error code",
		Long: `Find audit records, newest first. Filters combine with AND. The output is a
table, or with --format json one CloudTrail-shaped record per line. The
query store is brought up to date with the log before each query. When the
configuration's store is PostgreSQL, the query runs there, on the records
of every node, once this data directory's are shipped.`,
		Example: `  ztgate audit query --principal arn:zt:iam::111122223333:user/alice --limit 20
  ztgate audit query --decision explicitDeny --from 24h --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			if f.Limit < 1 {
				return fmt.Errorf("--limit %d: want at least 1", f.Limit)
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			x, closeSource, err := source(cmd.Context(), ff.dataDir, ff.configFile, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeSource()
			rows, err := x.Query(cmd.Context(), f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				for _, r := range rows {
					out.Write(r.Record)
					out.Write([]byte{'\n'})
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tPRINCIPAL\tACTION\tRESOURCE\tDECISION\tSOURCE IP\tERROR")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Format(time.RFC3339), dash(r.Principal), dash(r.Action),
					dash(r.Resource), dash(r.Decision), dash(r.SourceIP), dash(r.ErrorCode))
			}
			return tw.Flush()
		},
	}
	ff.add(cmd)
	cmd.Flags().IntVar(&ff.f.Limit, "limit", 100, "most records shown")
	cmd.Flags().StringVar(&format, "format", "table", "table or json (JSON lines)")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Each calls fn with every record of q matching f, oldest first, in pages.
func Each(ctx context.Context, q Querier, f Filter, fn func(Row) error) error {
	f.Ascending, f.Limit = true, 10000
	var seen map[string]bool // records of the previous page's last instant
	for {
		rows, err := q.Query(ctx, f)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if seen[r.Node+"/"+strconv.FormatUint(r.Seq, 10)] {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(rows) < f.Limit {
			return nil
		}
		// Records at the page's last microsecond may continue on the next
		// page: start it there and skip those already given.
		last := rows[len(rows)-1].Time
		if last.Equal(f.From) {
			return fmt.Errorf("more than %d records at one instant (%s): cannot page", f.Limit, last)
		}
		seen = map[string]bool{}
		for _, r := range rows {
			if r.Time.Equal(last) {
				seen[r.Node+"/"+strconv.FormatUint(r.Seq, 10)] = true
			}
		}
		f.From = last
	}
}

func exportCommand() *cobra.Command {
	var ff filterFlags
	var format, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export audit records as JSON lines or as CloudTrail-style files",
		Long: `Export the records matching the filters, oldest first.

--format jsonl writes one record per line to --out (a file; - or empty for
standard output). --format cloudtrail writes gzip-compressed files shaped as
CloudTrail delivers them ({"Records": [...]}), one per node and hour, under
--out (a directory): NODE/YYYY/MM/DD/ztgate_CloudTrail_NODE_YYYYMMDDTHH00Z.json.gz.`,
		Example: `  ztgate audit export --format jsonl --from 2026-11-01 --to 2026-12-01 --out november.jsonl
  ztgate audit export --format cloudtrail --out /srv/export`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.filter()
			if err != nil {
				return err
			}
			x, closeSource, err := source(cmd.Context(), ff.dataDir, ff.configFile, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeSource()
			switch format {
			case "jsonl":
				w := cmd.OutOrStdout()
				if out != "" && out != "-" {
					file, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
					if err != nil {
						return err
					}
					defer file.Close()
					w = file
				}
				return Each(cmd.Context(), x, f, func(r Row) error {
					_, err := w.Write(append(append([]byte(nil), r.Record...), '\n'))
					return err
				})
			case "cloudtrail":
				if out == "" || out == "-" {
					return fmt.Errorf("--out DIR is required with --format cloudtrail")
				}
				n, err := exportCloudTrail(cmd.Context(), x, f, out)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d files under %s\n", n, out)
				return nil
			}
			return fmt.Errorf("--format %q: want jsonl or cloudtrail", format)
		},
	}
	ff.add(cmd)
	cmd.Flags().StringVar(&format, "format", "jsonl", "jsonl or cloudtrail")
	cmd.Flags().StringVar(&out, "out", "", "output file (jsonl) or directory (cloudtrail)")
	return cmd
}

// exportCloudTrail writes one gzip file of {"Records": [...]} per node and
// hour.
func exportCloudTrail(ctx context.Context, q Querier, f Filter, out string) (int, error) {
	files := 0
	// Group by node and hour: order by node first is not needed, since a
	// file is reopened for append only within one ordered pass per key.
	byKey := map[string][]Row{}
	var keys []string
	err := Each(ctx, q, f, func(r Row) error {
		k := r.Node + "/" + r.Time.UTC().Format("2006010215")
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
		if len(byKey) > 64 { // bound memory: write out the oldest groups
			for _, old := range keys[:len(keys)-1] {
				if err := writeGroup(out, byKey[old]); err != nil {
					return err
				}
				files++
				delete(byKey, old)
			}
			keys = keys[len(keys)-1:]
		}
		return nil
	})
	if err != nil {
		return files, err
	}
	for _, k := range keys {
		if err := writeGroup(out, byKey[k]); err != nil {
			return files, err
		}
		files++
	}
	return files, nil
}

func writeGroup(out string, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	r0 := rows[0]
	t := r0.Time.UTC()
	dir := filepath.Join(out, r0.Node, t.Format("2006"), t.Format("01"), t.Format("02"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	name := filepath.Join(dir, fmt.Sprintf("ztgate_CloudTrail_%s_%s.json.gz", r0.Node, t.Format("20060102T1500Z")))
	fh, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer fh.Close()
	gz := gzip.NewWriter(fh)
	recs := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		recs[i] = r.Record
	}
	if err := json.NewEncoder(gz).Encode(struct {
		Records []json.RawMessage `json:"Records"`
	}{recs}); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return fh.Close()
}

func reindexCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild the audit query store from the log",
		Long: `Delete the query store (DATA_DIR/audit/index.db) and rebuild it from the
segments. The store is derived data; the segments are the evidence.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := datadir.Abs(dataDir)
			if err != nil {
				return err
			}
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if err := os.Remove(d.Path(filepath.Join("audit", FileName+suffix))); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
			x, err := open(cmd.Context(), dataDir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer x.Close()
			n, err := x.Count(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "indexed %s records\n", strconv.FormatInt(n, 10))
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", datadir.Default, "data directory")
	return cmd
}
