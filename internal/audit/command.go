package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztgate/ztgate/internal/datadir"
	"github.com/ztgate/ztgate/internal/secret"
)

// ExitError asks main to exit with Code; the command has already printed
// what went wrong.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode returns the code to exit with.
func (e *ExitError) ExitCode() int { return e.Code }

// Exit codes of the audit commands.
const (
	exitFindings = 1 // the log is not as ztgate wrote it
	exitInput    = 2 // the directory or a flag is unusable
)

// Command returns "ztgate audit".
func Command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Work with the tamper-evident audit log",
		Long: `Work with ztgate's audit log: one CloudTrail-shaped JSON record per
authorization decision, authentication failure, credential or certificate
issued, administrative change and revocation, hash-chained and kept in
segments whose digests are signed. The format is described in the
documentation of the Go package internal/audit.`,
	}
	cmd.AddCommand(subcommands()...)
	return cmd
}

// subcommands are the audit command's subcommands, in the order help
// lists them. A new subcommand is one more entry.
func subcommands() []*cobra.Command {
	return []*cobra.Command{
		verifyCommand(),
		pruneCommand(),
	}
}

// verifyFlags are verify's flags.
type verifyFlags struct {
	dataDir, node, from, to, keys, kekFile string
	json, strict, progress                 bool
}

func verifyCommand() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that the audit log is as ztgate wrote it",
		Long: `Check every node's audit log in the data directory: each record's hash and
its link to the one before, each closed segment against its signed digest,
and the chain of digests. Every record modified, deleted, inserted or
reordered, every segment truncated or deleted, and every digest forged,
missing or out of order is reported by node, file and line.

A torn tail, an incomplete record cut off by a crash and kept aside by
recovery, is reported as a warning: the record it held was never
acknowledged. With --strict warnings count too.

The public keys in DATA_DIR/audit/keys are trusted; --keys names a copy
kept elsewhere, which is stronger. When the key-encryption key is at hand
(ZTGATE_KEK, --kek-file, or kek.key in the data directory), each public
key is also checked against its sealed private key.

Exit status: 0 when the log verifies, 1 when anything is wrong, 2 when the
directory cannot be read or a flag is invalid. On a terminal a progress bar
is shown on standard error while a large log is read; elsewhere --progress
prints progress lines.`,
		Example: `  ztgate audit verify --data-dir /var/lib/ztgate
  ztgate audit verify --data-dir /var/lib/ztgate --node gw-1 --from 2026-11-01 --to 2026-11-30T12:00:00Z
  ztgate audit verify --data-dir /var/lib/ztgate --keys /secure/ztgate-audit-keys --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", datadir.Default, "the data directory whose audit log is checked")
	fl.StringVar(&f.node, "node", "", "check only this node's log")
	fl.StringVar(&f.from, "from", "", "check only segments with records at or after this time (RFC 3339 or YYYY-MM-DD)")
	fl.StringVar(&f.to, "to", "", "check only segments with records at or before this time (RFC 3339 or YYYY-MM-DD)")
	fl.StringVar(&f.keys, "keys", "", "directory of trusted public keys (<keyid>.pub), instead of the log's own")
	fl.StringVar(&f.kekFile, "kek-file", "", "key-encryption key file, to check the public keys against their sealed private keys")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	fl.BoolVar(&f.strict, "strict", false, "fail on warnings (torn tails, unexpected files) too")
	fl.BoolVar(&f.progress, "progress", false, "print progress lines when standard error is not a terminal")
	return cmd
}

func runVerify(ctx context.Context, f verifyFlags, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	usage := func(format string, args ...any) error {
		fmt.Fprintf(stderr, "ztgate audit verify: "+format+"\n", args...)
		return &ExitError{Code: exitInput}
	}
	dir, err := datadir.Abs(f.dataDir)
	if err != nil {
		return usage("%v", err)
	}
	o := VerifyOptions{Dir: dir.Path(DirName), Node: f.node, KeyDir: f.keys}
	if f.keys != "" {
		if fi, err := os.Stat(f.keys); err != nil || !fi.IsDir() {
			if err == nil {
				err = fmt.Errorf("%s is not a directory", f.keys)
			}
			return usage("--keys: %v", err)
		}
	}
	if o.From, err = parseWhen(f.from, false); err != nil {
		return usage("--from: %v", err)
	}
	if o.To, err = parseWhen(f.to, true); err != nil {
		return usage("--to: %v", err)
	}
	if o.KEK, err = loadKEK(f.kekFile, dir); err != nil {
		return usage("%v", err)
	}
	bar := newProgressBar(stderr, f.progress)
	o.Progress = bar.update
	rep, err := Verify(ctx, o)
	if err != nil {
		return usage("%v", err)
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			*Report
			OK bool `json:"ok"`
		}{rep, rep.OK(f.strict)}); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep, o.KEK != nil, f.strict)
	}
	if !rep.OK(f.strict) {
		return &ExitError{Code: exitFindings}
	}
	return nil
}

// pruneFlags are prune's flags.
type pruneFlags struct {
	dataDir, node, kekFile string
	olderThan              time.Duration
	maxSizeMiB             int64
}

func pruneCommand() *cobra.Command {
	var f pruneFlags
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove the oldest audit segments of a stopped node",
		Long: `Remove a node's oldest closed segments, with their digests, while their
newest record is older than --older-than or the node's closed segments take
more than --max-size-mib. The newest closed segment and the open one are
always kept. A signed retention marker, DATA_DIR/audit/<node>/retention.json,
is written first, so that ztgate audit verify still verifies the rest of the
log and still reports any segment removed otherwise.

This is what audit.retention does in a running node, for a node that is
stopped: the command refuses while a node holds the log. It signs the
marker with the audit signing key, so the key-encryption key must be at
hand (ZTGATE_KEK, --kek-file, or kek.key in the data directory).

Exit status: 0 when done (even when nothing was old enough), 1 when a node
could not be pruned, 2 when a flag or the directory is unusable.`,
		Example: `  ztgate audit prune --data-dir /var/lib/ztgate --older-than 2160h
  ztgate audit prune --data-dir /var/lib/ztgate --node gw-1 --max-size-mib 10240`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(f, time.Now(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", datadir.Default, "the data directory whose audit log is pruned")
	fl.StringVar(&f.node, "node", "", "prune only this node's log (default every node)")
	fl.DurationVar(&f.olderThan, "older-than", 0, "remove segments whose newest record is older than this (Go duration: 2160h)")
	fl.Int64Var(&f.maxSizeMiB, "max-size-mib", 0, "remove the oldest segments while the closed segments take more than this many MiB")
	fl.StringVar(&f.kekFile, "kek-file", "", "key-encryption key file that seals the audit signing key")
	return cmd
}

func runPrune(f pruneFlags, now time.Time, stdout, stderr io.Writer) error {
	fail := func(code int, format string, args ...any) error {
		fmt.Fprintf(stderr, "ztgate audit prune: "+format+"\n", args...)
		return &ExitError{Code: code}
	}
	switch {
	case f.olderThan < 0 || f.maxSizeMiB < 0:
		return fail(exitInput, "--older-than and --max-size-mib must not be negative")
	case f.olderThan == 0 && f.maxSizeMiB == 0:
		return fail(exitInput, "give --older-than, --max-size-mib or both")
	case f.maxSizeMiB > math.MaxInt64>>20:
		return fail(exitInput, "--max-size-mib %d is too large", f.maxSizeMiB)
	}
	r := retention{maxAge: f.olderThan, maxSize: f.maxSizeMiB << 20}
	dd, err := datadir.Abs(f.dataDir)
	if err != nil {
		return fail(exitInput, "%v", err)
	}
	dir := dd.Path(DirName)
	if _, err := os.Stat(filepath.Join(dir, keysDir, activeName)); err != nil {
		return fail(exitInput, "no audit signing key in %s: %v", dir, err)
	}
	kek, err := loadKEK(f.kekFile, dd)
	if err == nil && kek == nil {
		err = errors.New("no key-encryption key: set " + secret.EnvKEK + " or --kek-file")
	}
	if err != nil {
		return fail(exitInput, "%v", err)
	}
	key, err := loadOrCreateKey(dir, kek)
	if err != nil {
		return fail(exitInput, "%v", err)
	}
	nodes := []string{f.node}
	if f.node == "" {
		v := &verifier{o: VerifyOptions{Dir: dir}, rep: &Report{}}
		if nodes, err = v.nodes(); err != nil {
			return fail(exitInput, "%v", err)
		}
	} else if err := checkNode(f.node); err != nil {
		return fail(exitInput, "%v", err)
	}
	code := 0
	for _, node := range nodes {
		nodeDir := filepath.Join(dir, node)
		if _, err := os.Stat(nodeDir); err != nil {
			return fail(exitInput, "node %s: %v", node, err)
		}
		unlock, err := lockNode(filepath.Join(nodeDir, lockName))
		if errors.Is(err, errLocked) {
			fmt.Fprintf(stderr, "ztgate audit prune: node %s is running (it holds %s): stop it first, or set audit.retention in its configuration\n",
				node, filepath.Join(nodeDir, lockName))
			code = exitFindings
			continue
		}
		if err != nil {
			fmt.Fprintf(stderr, "ztgate audit prune: node %s: %v\n", node, err)
			code = exitFindings
			continue
		}
		p := &pruner{dir: dir, node: node, key: key, now: now, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
		res, err := p.prune(r)
		unlock()
		if err != nil {
			fmt.Fprintf(stderr, "ztgate audit prune: node %s: %v\n", node, err)
			code = exitFindings
			continue
		}
		switch {
		case res.segments > 0:
			fmt.Fprintf(stdout, "%s: removed %d segment(s); records to seq %d are pruned\n", node, res.segments, res.through)
		default:
			fmt.Fprintf(stdout, "%s: nothing to remove\n", node)
		}
		if res.leftovers > 0 {
			fmt.Fprintf(stdout, "%s: removed %d file set(s) an interrupted prune had left\n", node, res.leftovers)
		}
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// loadKEK loads the key-encryption key when one is at hand: the named
// file, else ZTGATE_KEK, else kek.key in the data directory. None at hand
// is not an error; a named file that cannot be loaded is.
func loadKEK(file string, dir datadir.Dir) (*secret.KEK, error) {
	if file != "" || os.Getenv(secret.EnvKEK) != "" {
		return secret.LoadKEK(file)
	}
	def := dir.Path("kek.key")
	if _, err := os.Stat(def); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	k, err := secret.LoadKEK(def)
	if err != nil {
		return nil, nil // not readable here (another user's file): skip the check
	}
	return k, nil
}

// parseWhen parses a time flag: RFC 3339, or a date meaning its start (or
// its end, for the upper bound) in UTC.
func parseWhen(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a date (YYYY-MM-DD)", s)
	}
	if end {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}

func printReport(w io.Writer, rep *Report, keysChecked, strict bool) {
	for _, f := range rep.Findings {
		fmt.Fprintln(w, f)
	}
	errs, warns := rep.Errors(), rep.Warnings()
	rate := ""
	if s := rep.Elapsed.Seconds(); s > 0 {
		rate = fmt.Sprintf(", %s records/s", humanCount(float64(rep.Records)/s))
	}
	fmt.Fprintf(w, "%s: %d node(s), %d segment(s), %d digest(s), %d records, %s in %s%s\n",
		filepath.Clean(rep.Dir), rep.Nodes, rep.Segments, rep.Digests, rep.Records, humanBytes(rep.Bytes),
		rep.Elapsed.Round(time.Millisecond), rate)
	if !keysChecked {
		fmt.Fprintln(w, "note: no key-encryption key at hand; public keys were not checked against their sealed private keys")
	}
	switch {
	case errs == 0 && warns == 0:
		fmt.Fprintln(w, "OK: the audit log verifies")
	case errs == 0 && strict:
		fmt.Fprintf(w, "FAILED under --strict: %d warning(s)\n", warns)
	case errs == 0:
		fmt.Fprintf(w, "OK with %d warning(s)\n", warns)
	default:
		fmt.Fprintf(w, "FAILED: %d error(s), %d warning(s)\n", errs, warns)
	}
}

// progressBar draws verification progress on standard error: a bar that
// redraws in place on a terminal, once the run has lasted long enough to
// be worth it, or, with --progress elsewhere, a line every few seconds.
type progressBar struct {
	w         io.Writer
	tty       bool
	plain     bool
	shown     bool
	lastPlain time.Duration
}

// Progress thresholds.
const (
	barDelay   = 300 * time.Millisecond // runs shorter than this show no bar
	plainEvery = 2 * time.Second
	barWidth   = 30
)

func newProgressBar(w io.Writer, plain bool) *progressBar {
	p := &progressBar{w: w, plain: plain}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progressBar) update(pr Progress) {
	switch {
	case p.tty:
		if pr.Done {
			if p.shown {
				fmt.Fprint(p.w, "\r\x1b[K")
			}
			return
		}
		if pr.Elapsed < barDelay {
			return
		}
		p.shown = true
		fmt.Fprint(p.w, "\r"+renderBar(pr)+"\x1b[K")
	case p.plain:
		if pr.Done || pr.Elapsed-p.lastPlain >= plainEvery {
			p.lastPlain = pr.Elapsed
			fmt.Fprintln(p.w, "verify: "+renderBar(pr))
		}
	}
}

// renderBar formats progress as "[#####.....]  45%  1.2M records  850k records/s  ETA 3s".
func renderBar(pr Progress) string {
	frac := 1.0
	if pr.TotalBytes > 0 {
		frac = min(float64(pr.Bytes)/float64(pr.TotalBytes), 1)
	}
	filled := int(frac * barWidth)
	bar := "[" + strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled) + "]"
	s := fmt.Sprintf("%s %3.0f%%  %s records", bar, frac*100, humanCount(float64(pr.Records)))
	if secs := pr.Elapsed.Seconds(); secs > 0 {
		s += fmt.Sprintf("  %s records/s", humanCount(float64(pr.Records)/secs))
		if frac > 0 && frac < 1 {
			eta := time.Duration(float64(pr.Elapsed) * (1 - frac) / frac)
			s += "  ETA " + eta.Round(time.Second).String()
		}
	}
	return s
}

func humanCount(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
