package audit

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ztgate/ztgate/internal/datadir"
)

// RetentionVersion is the version of the retention marker format.
const RetentionVersion = 1

// retentionName is the retention marker's file name in a node directory.
const retentionName = "retention.json"

// RetentionMarker records that a node's oldest segments were removed on
// purpose, through PrunedThroughSeq, and where the digest chain went on
// from: the removed digest the first remaining one names, its signature,
// and the hash of the last removed record. It is signed as a digest is
// (see the package documentation): the fields and their order are the
// signed payload's.
type RetentionMarker struct {
	RetentionVersion       int    `json:"retentionVersion"`
	Node                   string `json:"node"`
	PrunedThroughSeq       uint64 `json:"prunedThroughSeq"`
	PrunedThroughDigest    string `json:"prunedThroughDigest"`
	PrunedThroughSignature string `json:"prunedThroughSignature"`
	PrunedThroughLastHash  string `json:"prunedThroughLastHash"`
	PrunedAt               string `json:"prunedAt"`
	KeyID                  string `json:"keyId"`
	Signature              string `json:"signature,omitempty"`
}

func (m *RetentionMarker) payload() ([]byte, error) {
	c := *m
	c.Signature = ""
	return json.Marshal(&c)
}

func (m *RetentionMarker) sign(k *signingKey) error {
	m.KeyID = k.id
	m.Signature = ""
	p, err := m.payload()
	if err != nil {
		return err
	}
	if m.Signature, err = signPayload(k, p); err != nil {
		return fmt.Errorf("sign retention marker: %w", err)
	}
	return nil
}

func (m *RetentionMarker) verifySignature(pub *ecdsa.PublicKey) error {
	p, err := m.payload()
	if err != nil {
		return err
	}
	return verifyPayload(pub, p, m.Signature)
}

// parseRetention parses a retention marker strictly, as parseDigest does a
// digest.
func parseRetention(b []byte) (*RetentionMarker, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m RetentionMarker
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a retention marker: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a retention marker: data after the object")
	}
	if m.RetentionVersion != RetentionVersion {
		return nil, fmt.Errorf("unknown retention marker version %d", m.RetentionVersion)
	}
	seq, ok := parseSeqName(m.PrunedThroughDigest, digestExt)
	switch {
	case checkNode(m.Node) != nil:
		return nil, fmt.Errorf("retention marker names an invalid node %q", m.Node)
	case !ok || seq == 0 || seq > m.PrunedThroughSeq:
		return nil, fmt.Errorf("retention marker names an invalid digest %q", m.PrunedThroughDigest)
	case !isHash(m.PrunedThroughLastHash):
		return nil, errors.New("retention marker field prunedThroughLastHash is not a SHA-256 in hex")
	case !isKeyID(m.KeyID):
		return nil, fmt.Errorf("retention marker names an invalid key id %q", m.KeyID)
	case m.Signature == "" || m.PrunedThroughSignature == "":
		return nil, errors.New("retention marker is not signed")
	case !isBase64(m.Signature) || !isBase64(m.PrunedThroughSignature):
		return nil, errors.New("retention marker signatures are not base64")
	}
	if _, err := time.Parse(time.RFC3339Nano, m.PrunedAt); err != nil {
		return nil, errors.New("retention marker field prunedAt is not an RFC 3339 time")
	}
	return &m, nil
}

// readRetention reads a node's retention marker; nil when there is none.
func readRetention(nodeDir string) (*RetentionMarker, error) {
	b, err := readLimited(filepath.Join(nodeDir, retentionName), maxDigestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseRetention(b)
}

// retention bounds a node's log; a zero field is no bound.
type retention struct {
	maxAge  time.Duration
	maxSize int64
}

func (r retention) enabled() bool { return r.maxAge > 0 || r.maxSize > 0 }

// pruner removes the oldest closed segments of one node.
type pruner struct {
	dir  string // the audit directory
	node string
	key  *signingKey
	now  time.Time
	log  *slog.Logger
}

// pruned is what a prune removed.
type pruned struct {
	segments  int    // segments removed by this prune
	through   uint64 // the last record removed, by this prune or earlier
	leftovers int    // files an interrupted prune had left, removed now
}

// pubKey returns the public key of a key id: the signing key's own, or
// keys/<id>.pub, the key verify trusts by default.
func (p *pruner) pubKey(id string) *ecdsa.PublicKey {
	if id == p.key.id {
		return &p.key.priv.PublicKey
	}
	b, err := os.ReadFile(filepath.Join(p.dir, keysDir, id+publicKeyExt))
	if err != nil {
		return nil
	}
	pub, got, err := parsePublicKey(b)
	if err != nil || got != id {
		return nil
	}
	return pub
}

// prune removes the node's oldest closed segments, with their digests and
// torn-tail files, while they are older than r.maxAge (by their newest
// record) or the closed segments together are larger than r.maxSize. The
// open segment and the newest closed one are always kept.
//
// Only an unbroken prefix of the log is removed: from the retention
// marker (or the first record) on, each digest must verify, chain to the
// one before and have its segment. Removing past a break would hide it.
// The marker is written before any file is removed, so that a crash part
// way leaves only files the marker covers, which the next prune removes
// and verify passes over.
func (p *pruner) prune(r retention) (pruned, error) {
	var res pruned
	nodeDir := filepath.Join(p.dir, p.node)
	segDir, digDir := filepath.Join(nodeDir, segmentsDir), filepath.Join(nodeDir, digestsDir)
	m, err := readRetention(nodeDir)
	if err != nil {
		return res, fmt.Errorf("audit: retention marker: %w", err)
	}
	prevName, prevSig, prevHash := "", "", strings.Repeat("0", hashHex)
	if m != nil {
		if pub := p.pubKey(m.KeyID); m.Node != p.node || pub == nil || m.verifySignature(pub) != nil {
			return res, errors.New("audit: the retention marker does not verify; nothing is pruned (run ztgate audit verify)")
		}
		res.through = m.PrunedThroughSeq
		prevName, prevSig, prevHash = m.PrunedThroughDigest, m.PrunedThroughSignature, m.PrunedThroughLastHash
	}
	segs, err := listSeq(segDir, segmentExt)
	if err != nil {
		return res, fmt.Errorf("audit: %w", err)
	}
	digs, err := listSeq(digDir, digestExt)
	if err != nil {
		return res, fmt.Errorf("audit: %w", err)
	}

	// What an interrupted prune left.
	var leftover []uint64
	for _, seq := range segs {
		if seq <= res.through {
			leftover = append(leftover, seq)
		}
	}
	for _, seq := range digs {
		if seq <= res.through && (len(leftover) == 0 || leftover[len(leftover)-1] != seq) {
			leftover = append(leftover, seq)
		}
	}
	n, err := p.remove(segDir, digDir, leftover)
	res.leftovers = n
	if err != nil {
		return res, err
	}

	// The closed segments after the marker, and the prefix that may go.
	var closed []*Digest
	var total int64
	after, next, intact := 0, res.through+1, true
	for _, seq := range digs {
		if seq <= res.through {
			continue
		}
		after++
		fi, err := os.Stat(filepath.Join(segDir, segmentName(seq)))
		if err == nil {
			total += fi.Size()
		}
		if !intact {
			continue
		}
		b, rerr := readLimited(filepath.Join(digDir, digestName(seq)), maxDigestSize)
		var d *Digest
		if rerr == nil {
			d, rerr = parseDigest(b)
		}
		var pub *ecdsa.PublicKey
		if rerr == nil {
			pub = p.pubKey(d.KeyID)
		}
		if rerr != nil || err != nil || fi.Size() != d.Size || pub == nil || d.verifySignature(pub) != nil ||
			d.Node != p.node || d.Segment != segmentName(seq) || d.FirstSeq != next ||
			d.PreviousDigest != prevName || d.PreviousSignature != prevSig || d.FirstPrev != prevHash {
			p.log.Warn("audit: retention stops where the log does not verify (run ztgate audit verify)", "digest", digestName(seq))
			intact = false
			continue
		}
		closed = append(closed, d)
		next = d.LastSeq + 1
		prevName, prevSig, prevHash = digestName(seq), d.Signature, d.LastHash
	}
	keep := 0
	if len(closed) == after {
		keep = 1 // the newest closed segment
	}
	var gone []*Digest
	for _, d := range closed[:max(len(closed)-keep, 0)] {
		_, latest := d.eventTimes()
		old := r.maxAge > 0 && p.now.Sub(latest) > r.maxAge
		big := r.maxSize > 0 && total > r.maxSize
		if !old && !big {
			break
		}
		gone = append(gone, d)
		total -= d.Size
	}
	if len(gone) == 0 {
		return res, nil
	}

	last := gone[len(gone)-1]
	nm := &RetentionMarker{
		RetentionVersion:       RetentionVersion,
		Node:                   p.node,
		PrunedThroughSeq:       last.LastSeq,
		PrunedThroughDigest:    digestName(last.FirstSeq),
		PrunedThroughSignature: last.Signature,
		PrunedThroughLastHash:  last.LastHash,
		PrunedAt:               digestTime(p.now),
	}
	if err := nm.sign(p.key); err != nil {
		return res, err
	}
	b, err := json.MarshalIndent(nm, "", "  ")
	if err != nil {
		return res, err
	}
	if err := writeFileAtomic(filepath.Join(nodeDir, retentionName), append(b, '\n')); err != nil {
		return res, fmt.Errorf("audit: write retention marker: %w", err)
	}
	res.through = last.LastSeq
	seqs := make([]uint64, len(gone))
	for i, d := range gone {
		seqs[i] = d.FirstSeq
	}
	res.segments, err = p.remove(segDir, digDir, seqs)
	return res, err
}

// remove removes segments, each with its torn-tail files and then its
// digest, oldest first, and returns how many segments or digests it
// removed.
func (p *pruner) remove(segDir, digDir string, seqs []uint64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	ents, err := os.ReadDir(segDir)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	torn := map[uint64][]string{}
	for _, e := range ents {
		if seq, _, ok := parseTornName(e.Name()); ok {
			torn[seq] = append(torn[seq], e.Name())
		}
	}
	n := 0
	for _, seq := range seqs {
		var files []string
		for _, t := range torn[seq] {
			files = append(files, filepath.Join(segDir, t))
		}
		files = append(files, filepath.Join(segDir, segmentName(seq)), filepath.Join(digDir, digestName(seq)))
		for _, f := range files {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, fmt.Errorf("audit: prune: %w", err)
			}
		}
		n++
	}
	if err := datadir.SyncDir(segDir); err != nil {
		return n, fmt.Errorf("audit: prune: %w", err)
	}
	if err := datadir.SyncDir(digDir); err != nil {
		return n, fmt.Errorf("audit: prune: %w", err)
	}
	return n, nil
}

// PrunedThrough returns the last sequence number retention removed from
// the node whose directory is nodeDir (0 when none was removed), as its
// retention marker says. Derived stores (the query index) drop what the
// log no longer holds by it; the marker's signature is checked by Verify,
// not here.
func PrunedThrough(nodeDir string) (uint64, error) {
	m, err := readRetention(nodeDir)
	if err != nil || m == nil {
		return 0, err
	}
	return m.PrunedThroughSeq, nil
}
