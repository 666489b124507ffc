package audit

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
)

// Kind names what verification found.
type Kind string

// What verification finds. Every kind but Torn, UnexpectedFile and
// PrunedFile is an error: the log is not as ztgate wrote it.
const (
	ModifiedRecord   Kind = "modified-record"     // a line's bytes do not match its hash, or do not link
	DeletedRecord    Kind = "deleted-record"      // a sequence number has no line
	InsertedRecord   Kind = "inserted-record"     // a line that is not part of the chain
	ReorderedRecord  Kind = "reordered-record"    // chain lines out of file order
	TruncatedSegment Kind = "truncated-segment"   // a segment is shorter than its digest says
	DeletedSegment   Kind = "deleted-segment"     // a segment file is gone, or records between segments are
	ModifiedSegment  Kind = "modified-segment"    // a segment differs from its digest in a way no line explains
	ForgedDigest     Kind = "forged-digest"       // a digest that does not parse or whose signature fails
	MissingDigest    Kind = "missing-digest"      // a closed segment without its digest, or a digest a later one names
	OutOfOrderDigest Kind = "out-of-order-digest" // a digest in the wrong place in the digest chain
	UnknownKey       Kind = "unknown-key"         // a digest signed by a key not trusted, or a key file that is not what its name says
	ForgedRetention  Kind = "forged-retention"    // a retention marker that does not verify, or that the remaining log does not continue

	Torn           Kind = "torn-tail"       // an incomplete line left by a crash (warning)
	UnexpectedFile Kind = "unexpected-file" // a file ztgate does not write (warning)
	PrunedFile     Kind = "pruned-file"     // a file the retention marker covers, left by an interrupted prune (info)
)

// Severity is how grave a finding is.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info" // a note: never fails verification
)

// Severity returns the kind's severity. A torn tail is a warning: a crash
// causes it, recovery keeps the bytes and the digest records it.
func (k Kind) Severity() Severity {
	switch k {
	case Torn, UnexpectedFile:
		return SeverityWarning
	case PrunedFile:
		return SeverityInfo
	}
	return SeverityError
}

// Finding is one thing wrong with an audit log, named by node, file
// (relative to the audit directory, with '/' separators) and, within a
// segment, line and sequence number.
type Finding struct {
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	Node     string   `json:"node,omitempty"`
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Seq      uint64   `json:"seq,omitempty"`
	Message  string   `json:"message"`
}

// String formats the finding as "severity: kind: file[:line]: message".
func (f Finding) String() string {
	loc := f.File
	if f.Line > 0 {
		loc += fmt.Sprintf(":%d", f.Line)
	}
	return fmt.Sprintf("%s: %s: %s: %s", f.Severity, f.Kind, loc, f.Message)
}

// Report is the outcome of [Verify].
type Report struct {
	Dir      string        `json:"dir"`
	Nodes    int           `json:"nodes"`
	Segments int           `json:"segments"` // segments read
	Digests  int           `json:"digests"`  // digests checked
	Records  int64         `json:"records"`  // lines read
	Bytes    int64         `json:"bytes"`    // bytes read
	Elapsed  time.Duration `json:"elapsedNs"`
	Findings []Finding     `json:"findings"`
}

// Errors counts the findings of error severity.
func (r *Report) Errors() int { return r.count(SeverityError) }

// Warnings counts the findings of warning severity.
func (r *Report) Warnings() int { return r.count(SeverityWarning) }

func (r *Report) count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// OK reports whether the log verified: no errors and, when strict, no
// warnings either. Notes of info severity never count.
func (r *Report) OK(strict bool) bool {
	return r.Errors() == 0 && (!strict || r.Warnings() == 0)
}

// Progress is how far a verification has come.
type Progress struct {
	Bytes, TotalBytes int64
	Records           int64
	Elapsed           time.Duration
	Done              bool
}

// VerifyOptions say what to verify.
type VerifyOptions struct {
	// Dir is the audit directory, DATA_DIR/audit.
	Dir string
	// Node limits verification to one node; empty means every node.
	Node string
	// From and To, when set, limit the segments read to those whose
	// records' eventTimes reach into [From, To], and the open segment.
	// Digests, which are small, are always checked in full.
	From, To time.Time
	// KeyDir holds the trusted public keys; empty means Dir/keys. Keeping
	// a copy of the public keys away from the log, and verifying against
	// it, defends against someone who can write the log directory and
	// signs forged digests with a key of their own.
	KeyDir string
	// KEK, when set, is used to check that every trusted public key is the
	// half of a private key sealed with it in Dir/keys: a key made by
	// someone without the key-encryption key is then refused.
	KEK *secret.KEK
	// Workers is how many segments are read at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when set, is called every ProgressEvery (100ms when zero)
	// and once at the end with Done set, from one goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Verify checks the audit logs under o.Dir: every node's record chain,
// every segment against its digest, every digest's signature and the
// digest chain. It returns an error only when the directory cannot be
// read at all; everything wrong with the logs is a finding in the report.
func Verify(ctx context.Context, o VerifyOptions) (*Report, error) {
	start := time.Now()
	fi, err := os.Stat(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("audit directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("audit directory %s is not a directory", o.Dir)
	}
	v := &verifier{o: o, rep: &Report{Dir: o.Dir}}
	if v.o.KeyDir == "" {
		v.o.KeyDir = filepath.Join(o.Dir, keysDir)
	}
	if err := v.loadKeys(); err != nil {
		return nil, err
	}
	nodes, err := v.nodes()
	if err != nil {
		return nil, err
	}
	var plans []*nodePlan
	for _, n := range nodes {
		p, err := v.plan(n)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	var total int64
	for _, p := range plans {
		for _, s := range p.segs {
			if s.read {
				total += s.size
			}
		}
	}

	var c scanCounters
	stopProgress := v.startProgress(&c, total, start)
	for _, p := range plans {
		v.checkDigests(p)
		if err := v.scanSegments(ctx, p, &c); err != nil {
			stopProgress()
			return nil, err
		}
		v.checkSegments(p)
		v.rep.Nodes++
	}
	stopProgress()
	v.rep.Records = c.records.Load()
	v.rep.Bytes = c.bytes.Load()
	v.rep.Elapsed = time.Since(start)
	slices.SortStableFunc(v.rep.Findings, func(a, b Finding) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	if v.rep.Findings == nil {
		v.rep.Findings = []Finding{}
	}
	return v.rep, nil
}

type verifier struct {
	o    VerifyOptions
	rep  *Report
	keys map[string]*ecdsa.PublicKey
}

func (v *verifier) add(kind Kind, node, file string, line int, seq uint64, format string, args ...any) {
	v.rep.Findings = append(v.rep.Findings, Finding{
		Kind: kind, Severity: kind.Severity(), Node: node, File: file, Line: line, Seq: seq,
		Message: fmt.Sprintf(format, args...),
	})
}

// loadKeys reads the trusted public keys. A key file whose contents are
// not the key its name says is not trusted.
func (v *verifier) loadKeys() error {
	v.keys = make(map[string]*ecdsa.PublicKey)
	ents, err := os.ReadDir(v.o.KeyDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // every digest will name an unknown key
	}
	if err != nil {
		return fmt.Errorf("audit keys: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		id, ok := strings.CutSuffix(name, publicKeyExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		rel := "keys/" + name
		b, err := os.ReadFile(filepath.Join(v.o.KeyDir, name))
		if err != nil {
			v.add(UnknownKey, "", rel, 0, 0, "cannot read the key: %v", err)
			continue
		}
		pub, got, err := parsePublicKey(b)
		switch {
		case err != nil:
			v.add(UnknownKey, "", rel, 0, 0, "not a public key: %v", err)
			continue
		case got != id:
			v.add(UnknownKey, "", rel, 0, 0, "the file holds key %s, not key %s: it was replaced", got, id)
			continue
		}
		if v.o.KEK != nil {
			if err := checkKeyPair(filepath.Join(v.o.Dir, keysDir), id, pub, v.o.KEK); err != nil {
				v.add(UnknownKey, "", rel, 0, 0, "key %s is not one ztgate made: %v", id, err)
				continue
			}
		}
		v.keys[id] = pub
	}
	return nil
}

// checkKeyPair checks that the sealed private key beside a public key
// opens with kek and is its other half.
func checkKeyPair(kd, id string, pub *ecdsa.PublicKey, kek *secret.KEK) error {
	if _, err := os.Stat(filepath.Join(kd, id+privateKeyExt)); errors.Is(err, fs.ErrNotExist) {
		return errors.New("it has no sealed private key")
	}
	k, err := openPrivateKey(kd, id, kek)
	if err != nil {
		return err
	}
	if !k.priv.PublicKey.Equal(pub) {
		return errors.New("its sealed private key is of another key")
	}
	return nil
}

// nodes lists the node directories to verify.
func (v *verifier) nodes() ([]string, error) {
	if v.o.Node != "" {
		if err := checkNode(v.o.Node); err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(v.o.Dir, v.o.Node)); err != nil {
			return nil, fmt.Errorf("node %s: %w", v.o.Node, err)
		}
		return []string{v.o.Node}, nil
	}
	ents, err := os.ReadDir(v.o.Dir)
	if err != nil {
		return nil, fmt.Errorf("audit directory: %w", err)
	}
	// Files beside the node directories (a query index, say) are not part
	// of the log.
	var out []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == keysDir || strings.HasPrefix(name, ".") || !e.IsDir():
		case checkNode(name) != nil:
			v.add(UnexpectedFile, "", name, 0, 0, "not a node directory: its name is not a node name")
		default:
			out = append(out, name)
		}
	}
	return out, nil
}

// nodePlan is what one node's directory holds.
type nodePlan struct {
	node    string
	dir     string
	segs    []*segEntry    // by first seq
	digests []*digestEntry // by seq
	bySeq   map[uint64]*digestEntry
	torn    map[uint64][]tornFile // by segment
	open    *segEntry             // the segment being written, if any
	marker  *RetentionMarker      // the retention marker, when it verifies
}

type segEntry struct {
	seq  uint64
	name string
	size int64
	read bool // within the time range
	dig  *digestEntry
	scan segScan
	done bool // scanned
	errs int  // findings from its lines
}

type digestEntry struct {
	seq   uint64
	name  string
	d     *Digest // nil when it does not parse
	valid bool    // signature verified
	seg   *segEntry
}

type tornFile struct {
	off  int64
	name string
	size int64
}

func (v *verifier) plan(node string) (*nodePlan, error) {
	p := &nodePlan{node: node, dir: filepath.Join(v.o.Dir, node), bySeq: map[uint64]*digestEntry{}, torn: map[uint64][]tornFile{}}
	segDir, digDir := filepath.Join(p.dir, segmentsDir), filepath.Join(p.dir, digestsDir)
	ents, err := readDirMaybe(segDir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if seq, ok := parseSeqName(name, segmentExt); ok && e.Type().IsRegular() {
			info, err := e.Info()
			if err != nil {
				return nil, err
			}
			p.segs = append(p.segs, &segEntry{seq: seq, name: name, size: info.Size()})
			continue
		}
		if seq, off, ok := parseTornName(name); ok {
			info, err := e.Info()
			if err != nil {
				return nil, err
			}
			p.torn[seq] = append(p.torn[seq], tornFile{off: off, name: name, size: info.Size()})
			continue
		}
		v.add(UnexpectedFile, node, path.Join(node, segmentsDir, name), 0, 0, "ztgate does not write this file here")
	}
	ents, err = readDirMaybe(digDir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if seq, ok := parseSeqName(name, digestExt); ok && e.Type().IsRegular() {
			de := &digestEntry{seq: seq, name: name}
			p.digests = append(p.digests, de)
			p.bySeq[seq] = de
			continue
		}
		v.add(UnexpectedFile, node, path.Join(node, digestsDir, name), 0, 0, "ztgate does not write this file here")
	}
	if p.marker = v.retention(node, p.dir); p.marker != nil {
		v.dropPruned(p)
	}
	slices.SortFunc(p.segs, func(a, b *segEntry) int { return cmpSeq(a.seq, b.seq) })
	slices.SortFunc(p.digests, func(a, b *digestEntry) int { return cmpSeq(a.seq, b.seq) })
	for _, s := range p.segs {
		if de := p.bySeq[s.seq]; de != nil {
			s.dig, de.seg = de, s
		}
	}
	// The open segment is the last one, when no digest follows it.
	if n := len(p.segs); n > 0 && p.segs[n-1].dig == nil &&
		(len(p.digests) == 0 || p.digests[len(p.digests)-1].seq < p.segs[n-1].seq) {
		p.open = p.segs[n-1]
	}
	for _, de := range p.digests {
		v.rep.Digests++
		b, err := readLimited(filepath.Join(digDir, de.name), maxDigestSize)
		if err == nil {
			de.d, err = parseDigest(b)
		}
		if err != nil {
			v.add(ForgedDigest, node, path.Join(node, digestsDir, de.name), 0, 0, "%v", err)
		}
	}
	for _, s := range p.segs {
		s.read = v.inRange(s)
	}
	return p, nil
}

// retention reads and checks a node's retention marker. It returns the
// marker when it verifies; one that does not is reported, and then the
// segments it would cover are missing like any others.
func (v *verifier) retention(node, dir string) *RetentionMarker {
	rel := path.Join(node, retentionName)
	m, err := readRetention(dir)
	if err != nil {
		v.add(ForgedRetention, node, rel, 0, 0, "%v", err)
		return nil
	}
	if m == nil {
		return nil
	}
	if m.Node != node {
		v.add(ForgedRetention, node, rel, 0, 0, "it is the retention marker of node %s: it was moved here", m.Node)
		return nil
	}
	if !v.markerValid(m) {
		if v.keys[m.KeyID] == nil {
			v.add(UnknownKey, node, rel, 0, 0, "signed with key %s, which is not a trusted key", m.KeyID)
		} else {
			v.add(ForgedRetention, node, rel, 0, 0, "signature does not verify with key %s: the retention marker was altered or forged", m.KeyID)
		}
		return nil
	}
	return m
}

// markerValid reports whether a retention marker's signature verifies
// with a trusted key.
func (v *verifier) markerValid(m *RetentionMarker) bool {
	pub := v.keys[m.KeyID]
	return pub != nil && m.verifySignature(pub) == nil
}

// dropPruned sets aside the files the retention marker covers: an
// interrupted prune leaves them, and the next one removes them.
func (v *verifier) dropPruned(p *nodePlan) {
	through := p.marker.PrunedThroughSeq
	note := func(dir, name string) {
		v.add(PrunedFile, p.node, path.Join(p.node, dir, name), 0, 0,
			"the retention marker covers it (records to seq %d were removed): left by an interrupted prune, the next prune removes it", through)
	}
	p.segs = slices.DeleteFunc(p.segs, func(s *segEntry) bool {
		if s.seq > through {
			return false
		}
		note(segmentsDir, s.name)
		return true
	})
	p.digests = slices.DeleteFunc(p.digests, func(de *digestEntry) bool {
		if de.seq > through {
			return false
		}
		note(digestsDir, de.name)
		delete(p.bySeq, de.seq)
		return true
	})
	for seq, tfs := range p.torn {
		if seq <= through {
			for _, t := range tfs {
				note(segmentsDir, t.name)
			}
			delete(p.torn, seq)
		}
	}
}

// inRange reports whether a segment is to be read. Segments without a
// usable digest are always read: their times are not known without it.
func (v *verifier) inRange(s *segEntry) bool {
	if s.dig == nil || s.dig.d == nil {
		return true
	}
	earliest, latest := s.dig.d.eventTimes()
	if !v.o.From.IsZero() && latest.Before(v.o.From) {
		return false
	}
	if !v.o.To.IsZero() && earliest.After(v.o.To) {
		return false
	}
	return true
}

func readDirMaybe(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return ents, err
}

func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkDigests checks each digest's signature and its place in the
// digest chain.
func (v *verifier) checkDigests(p *nodePlan) {
	node := p.node
	rel := func(name string) string { return path.Join(node, digestsDir, name) }
	reportedMissing := map[string]bool{}
	// A closed segment without its digest.
	for i, s := range p.segs {
		if s.dig == nil && s != p.open {
			next := ""
			if i+1 < len(p.segs) {
				next = "; later segments exist"
			}
			v.add(MissingDigest, node, rel(digestName(s.seq)), 0, 0, "segment %s is closed but its digest is missing%s", s.name, next)
			reportedMissing[digestName(s.seq)] = true
		}
	}
	var prev *digestEntry
	for _, de := range p.digests {
		d := de.d
		if d == nil {
			prev = de
			continue
		}
		switch pub := v.keys[d.KeyID]; {
		case d.Node != node || d.Segment != segmentName(de.seq):
			v.add(OutOfOrderDigest, node, rel(de.name), 0, 0, "it describes segment %s of node %s: it was moved here", d.Segment, d.Node)
		case pub == nil:
			v.add(UnknownKey, node, rel(de.name), 0, 0, "signed with key %s, which is not a trusted key", d.KeyID)
		default:
			if err := d.verifySignature(pub); err != nil {
				v.add(ForgedDigest, node, rel(de.name), 0, 0, "%v with key %s: the digest was altered or forged", err, d.KeyID)
			} else {
				de.valid = true
			}
		}
		m := p.marker
		prevSeq, _ := parseSeqName(d.PreviousDigest, digestExt)
		switch {
		case prev == nil && m != nil && d.PreviousDigest == m.PrunedThroughDigest:
			if d.PreviousSignature != m.PrunedThroughSignature || d.FirstPrev != m.PrunedThroughLastHash || d.FirstSeq != m.PrunedThroughSeq+1 {
				v.add(ForgedRetention, node, path.Join(node, retentionName), 0, 0,
					"%s, the first digest left, does not continue from the retention marker (signature, chain hash or seq %d differ): the marker does not match the log",
					de.name, m.PrunedThroughSeq+1)
			}
		case prev == nil && m != nil && prevSeq <= m.PrunedThroughSeq:
			v.add(ForgedRetention, node, path.Join(node, retentionName), 0, 0,
				"%s, the first digest left, follows %q, not %s as the retention marker says: the marker does not match the log",
				de.name, d.PreviousDigest, m.PrunedThroughDigest)
		case prev == nil && d.PreviousDigest == "":
		case prev == nil || d.PreviousDigest != prev.name:
			_, err := os.Stat(filepath.Join(p.dir, digestsDir, d.PreviousDigest))
			switch {
			case d.PreviousDigest == "":
				v.add(OutOfOrderDigest, node, rel(de.name), 0, 0, "it claims to be the first digest, but %s comes before it", prev.name)
			case errors.Is(err, fs.ErrNotExist):
				if !reportedMissing[d.PreviousDigest] {
					v.add(MissingDigest, node, rel(d.PreviousDigest), 0, 0, "digest %s names it as the previous digest, and it is missing", de.name)
					reportedMissing[d.PreviousDigest] = true
				}
			default:
				v.add(OutOfOrderDigest, node, rel(de.name), 0, 0, "its previous digest is %s, not %s: digests are out of order", d.PreviousDigest, prev.name)
			}
		case prev.d != nil && d.PreviousSignature != prev.d.Signature:
			v.add(OutOfOrderDigest, node, rel(de.name), 0, 0, "its previousSignature is not the signature of %s: the digest chain is broken", prev.name)
		}
		prev = de
	}
}

// scanSegments reads every segment in range, several at once.
func (v *verifier) scanSegments(ctx context.Context, p *nodePlan, c *scanCounters) error {
	workers := v.o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type result struct {
		s   *segEntry
		fs  []lineFinding
		err error
	}
	jobs := make(chan *segEntry)
	results := make(chan result)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := newScanner()
			for s := range jobs {
				r := result{s: s}
				f, err := os.Open(filepath.Join(p.dir, segmentsDir, s.name))
				if err != nil {
					r.err = err
				} else {
					s.scan, r.err = sc.scan(f, s.seq, false, c)
					f.Close()
					if r.err == nil && s.scan.anomaly {
						r.fs = sc.analyze(s.seq)
					}
				}
				results <- r
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, s := range p.segs {
			if !s.read {
				continue
			}
			select {
			case jobs <- s:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for r := range results {
		s := r.s
		rel := path.Join(p.node, segmentsDir, s.name)
		if r.err != nil {
			if errors.Is(r.err, fs.ErrNotExist) { // deleted while we looked
				if m, err := readRetention(p.dir); err == nil && m != nil && m.Node == p.node && m.PrunedThroughSeq >= s.seq && v.markerValid(m) {
					v.add(PrunedFile, p.node, rel, 0, 0, "removed by retention while it was read")
					continue
				}
				v.add(DeletedSegment, p.node, rel, 0, 0, "the segment disappeared while it was read")
				continue
			}
			v.add(ModifiedSegment, p.node, rel, 0, 0, "cannot read the segment: %v", r.err)
			continue
		}
		s.done = true
		v.rep.Segments++
		for _, f := range r.fs {
			v.add(f.kind, p.node, rel, f.line, f.seq, "%s", f.msg)
		}
		s.errs = len(r.fs)
	}
	return ctx.Err()
}

// checkSegments compares each segment with its digest and each segment
// with the one before it, and reports torn tails.
func (v *verifier) checkSegments(p *nodePlan) {
	node := p.node
	rel := func(name string) string { return path.Join(node, segmentsDir, name) }
	for _, de := range p.digests {
		if de.seg == nil && de.d != nil && v.digestInRange(de.d) {
			v.add(DeletedSegment, node, rel(segmentName(de.seq)), 0, de.seq,
				"the segment is missing; its digest %s lists seq %d to %d", de.name, de.d.FirstSeq, de.d.LastSeq)
		}
	}
	for _, s := range p.segs {
		if !s.done {
			continue
		}
		sc := &s.scan
		newest := s == p.segs[len(p.segs)-1]
		segPath := filepath.Join(p.dir, segmentsDir, s.name)
		if s.dig != nil && s.dig.d != nil && sc.zeroAt >= 0 {
			sum, err := prefixSHA256(segPath, s.dig.d.Size)
			if newest && sc.zeroAt == s.dig.d.Size && sc.tailLen == 0 && err == nil {
				// The writer signs the digest, then cuts its zeros off:
				// what the digest signs is compared below as usual.
				v.add(Torn, node, rel(s.name), 0, 0,
					"%d zero bytes after the records its digest signs, as a crash while closing the segment leaves them (the next start cuts them off)", sc.zeros)
				sc.sha, sc.size = sum, s.dig.d.Size
			} else {
				v.add(ModifiedSegment, node, rel(s.name), int(sc.count)+1, 0,
					"zero bytes at offset %d, after line %d: a closed segment never holds one; it was overwritten", sc.zeroAt, sc.count)
				s.errs++
				continue
			}
		}
		if s == p.open && sc.count > 0 && sc.tailLen == 0 && sc.zeros == 0 && !fileExists(filepath.Join(p.dir, digestsDir, digestName(s.seq))) {
			// A segment being written always has the writer's zeros after
			// its records. (A digest that appeared while verify ran is a
			// segment the node closed meanwhile.)
			v.add(MissingDigest, node, rel(s.name), 0, 0,
				"the newest segment ends with its last record, as a closed segment does, but has no digest: it was removed (or the writer failed closing the segment)")
			s.errs++
		}
		if sc.tailLen > 0 {
			switch {
			case s == p.open && (sc.tailLen > maxTornTail || sc.strayZero >= 0) && !stillOverwritten(segPath, s.seq, sc):
				// Read again, it is whole: the first read caught a write
				// half done (a reader can see a page half copied).
				v.add(Torn, node, rel(s.name), 0, 0,
					"what follows line %d was being written as it was read", sc.count)
			case s == p.open && sc.tailLen > maxTornTail:
				v.add(ModifiedRecord, node, rel(s.name), int(sc.count)+1, 0,
					"%d bytes after the last whole line, at offset %d: more than a crash leaves unsynced (%d); records were overwritten", sc.tailLen, sc.tailOff, maxTornTail)
				s.errs++
			case s == p.open && sc.strayZero >= 0:
				v.add(ModifiedRecord, node, rel(s.name), int(sc.count)+1, 0,
					"zero bytes at offset %d, after line %d, where no crash leaves them (a crash leaves whole %d-byte blocks unwritten); records were overwritten", sc.strayZero, sc.count, holeAlign)
				s.errs++
			case s == p.open:
				v.add(Torn, node, rel(s.name), 0, 0,
					"incomplete last line at offset %d (%d bytes): being written now, or torn by a crash and not yet recovered (the next start recovers it)",
					sc.tailOff, sc.tailLen)
			case s.dig != nil && s.dig.d != nil && sc.size < s.dig.d.Size:
				// reported as truncation below
			default:
				v.add(ModifiedRecord, node, rel(s.name), int(sc.count)+1, 0, "the last line, at offset %d, is incomplete (%d bytes)", sc.tailOff, sc.tailLen)
				s.errs++
			}
		}
		if s.dig == nil || s.dig.d == nil {
			continue
		}
		d := s.dig.d
		before := len(v.rep.Findings)
		switch {
		case sc.count == 0 || sc.lastSeq < d.LastSeq:
			last := "no record"
			if sc.count > 0 {
				last = fmt.Sprintf("seq %d", sc.lastSeq)
			}
			v.add(TruncatedSegment, node, rel(s.name), int(sc.count), d.LastSeq,
				"the segment ends at %s, %d of %d bytes; its digest lists records to seq %d: it was truncated", last, sc.size, d.Size, d.LastSeq)
		case sc.lastSeq > d.LastSeq:
			v.add(InsertedRecord, node, rel(s.name), 0, d.LastSeq+1,
				"the segment holds records after seq %d, the last its digest lists: they were added after it was signed", d.LastSeq)
		case s.errs == 0 && (hex.EncodeToString(sc.sha[:]) != d.SegmentSHA256 || sc.size != d.Size ||
			hex.EncodeToString(sc.firstPrev[:]) != d.FirstPrev || hex.EncodeToString(sc.lastHash[:]) != d.LastHash):
			v.add(ModifiedSegment, node, rel(s.name), 0, 0,
				"the segment does not match its digest (SHA-256, size or chain ends): it was rewritten")
		}
		s.errs += len(v.rep.Findings) - before
		for _, t := range d.TornTails {
			msg := fmt.Sprintf("torn tail at %s:%d (%d bytes), recovered", s.name, t.Offset, t.Length)
			if fi, err := os.Stat(filepath.Join(p.dir, segmentsDir, t.File)); err != nil || fi.Size() != t.Length {
				msg += "; the evidence file " + t.File + " is missing or changed"
			}
			v.add(Torn, node, rel(s.name), 0, 0, "%s", msg)
		}
	}
	// Torn tails not yet listed by a digest.
	for seq, tfs := range p.torn {
		de := p.bySeq[seq]
		for _, t := range tfs {
			listed := false
			if de != nil && de.d != nil {
				for _, dt := range de.d.TornTails {
					listed = listed || dt.File == t.name
				}
			}
			switch {
			case listed:
			case de == nil:
				v.add(Torn, node, rel(segmentName(seq)), 0, 0,
					"torn tail at %s:%d (%d bytes), recovered; the segment is not closed yet", segmentName(seq), t.off, t.size)
			default:
				v.add(UnexpectedFile, node, rel(t.name), 0, 0, "the digest of %s does not list this torn tail", segmentName(seq))
			}
		}
	}
	v.link(p)
}

func (v *verifier) digestInRange(d *Digest) bool {
	earliest, latest := d.eventTimes()
	return (v.o.From.IsZero() || !latest.Before(v.o.From)) && (v.o.To.IsZero() || !earliest.After(v.o.To))
}

// chainEnds are a segment's first and last links, from its lines when it
// was read and from its digest otherwise.
type chainEnds struct {
	name                string
	first, last         uint64
	firstPrev, lastHash [sha256.Size]byte
	read, known         bool
	firstPresent        bool // the line for first was read
}

// link checks that consecutive segments continue one chain: no records
// missing between them (a deleted segment), none repeated, and the first
// record of each linking to the last of the one before.
func (v *verifier) link(p *nodePlan) {
	var ends []chainEnds
	seen := map[uint64]bool{}
	for _, s := range p.segs {
		seen[s.seq] = true
		e := chainEnds{name: s.name, first: s.seq}
		switch {
		case s.done && s.errs > 0 && s.dig != nil && s.dig.d != nil:
			// The segment is not as signed, and that is reported: link it
			// as it was signed, so the damage is not reported twice.
			e.fromDigest(s.dig.d)
			e.read = true
		case s.done && s.scan.count > 0:
			e.read, e.known = true, true
			e.last, e.lastHash = s.scan.lastSeq, s.scan.lastHash
			e.firstPresent = s.scan.firstSeq == s.seq
			e.firstPrev = s.scan.firstPrev
		case s.dig != nil && s.dig.d != nil:
			e.fromDigest(s.dig.d)
		}
		ends = append(ends, e)
	}
	for _, de := range p.digests {
		if !seen[de.seq] && de.d != nil {
			e := chainEnds{name: segmentName(de.seq), first: de.seq}
			e.fromDigest(de.d)
			ends = append(ends, e)
		}
	}
	slices.SortFunc(ends, func(a, b chainEnds) int { return cmpSeq(a.first, b.first) })
	start := uint64(1)
	if m := p.marker; m != nil {
		start = m.PrunedThroughSeq + 1
		// The digest of a closed segment is checked against the marker;
		// a segment without one is checked here.
		if len(ends) > 0 && ends[0].first == start && ends[0].read && ends[0].firstPresent && p.bySeq[start] == nil &&
			hex.EncodeToString(ends[0].firstPrev[:]) != m.PrunedThroughLastHash {
			v.add(ModifiedSegment, p.node, path.Join(p.node, segmentsDir, ends[0].name), 1, start,
				"its first record does not link to the last record the retention marker names: one of them was rewritten")
		}
	}
	if len(ends) > 0 && ends[0].first > start && v.o.From.IsZero() {
		v.add(DeletedSegment, p.node, path.Join(p.node, segmentsDir, ends[0].name), 0, start,
			"records %d to %d are missing before it: the first segments were deleted", start, ends[0].first-1)
	}
	for i := 1; i < len(ends); i++ {
		a, b := ends[i-1], ends[i]
		if !a.known || !(b.read || a.read) {
			continue
		}
		rel := path.Join(p.node, segmentsDir, b.name)
		switch {
		case b.first > a.last+1:
			v.add(DeletedSegment, p.node, rel, 0, a.last+1,
				"records %d to %d are missing between %s and %s: a segment was deleted", a.last+1, b.first-1, a.name, b.name)
		case b.first <= a.last:
			if a.read {
				v.add(InsertedRecord, p.node, path.Join(p.node, segmentsDir, a.name), 0, b.first,
					"it holds records up to seq %d, past seq %d where %s starts", a.last, b.first, b.name)
			}
		case b.firstPresent && b.firstPrev != a.lastHash:
			v.add(ModifiedSegment, p.node, rel, 1, b.first,
				"its first record does not link to the last record of %s: one of them was rewritten", a.name)
		}
	}
}

func (e *chainEnds) fromDigest(d *Digest) {
	e.known = true
	e.last = d.LastSeq
	e.firstPresent = true
	if b, err := hex.DecodeString(d.FirstPrev); err == nil {
		copy(e.firstPrev[:], b)
	}
	if b, err := hex.DecodeString(d.LastHash); err == nil {
		copy(e.lastHash[:], b)
	}
}

// startProgress calls o.Progress periodically until the returned function
// is called, which makes the final call.
func (v *verifier) startProgress(c *scanCounters, total int64, start time.Time) func() {
	if v.o.Progress == nil {
		return func() {}
	}
	every := v.o.ProgressEvery
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	snap := func(done bool) Progress {
		return Progress{Bytes: c.bytes.Load(), TotalBytes: total, Records: c.records.Load(), Elapsed: time.Since(start), Done: done}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				v.o.Progress(snap(false))
			case <-stop:
				return
			}
		}
	}()
	return func() {
		close(stop)
		<-finished
		v.o.Progress(snap(true))
	}
}

// prefixSHA256 is the SHA-256 of the first n bytes of a file.
func prefixSHA256(path string, n int64) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, f, n); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stillOverwritten reads an open segment again, a moment later, and
// reports whether it still holds what made the first read look
// overwritten (a stray run of zeros, or too long a tail): a live writer
// finishes any write within that moment, tampering stays.
func stillOverwritten(path string, seq uint64, first *segScan) bool {
	time.Sleep(100 * time.Millisecond)
	res, err := scanFile(newScanner(), path, seq)
	if err != nil {
		return true
	}
	if first.strayZero >= 0 {
		return res.strayZero == first.strayZero
	}
	return res.tailLen > maxTornTail && res.tailOff == first.tailOff
}
