package index

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"time"
	"unicode/utf8"
)

// Reading a line is most of the CPU indexing spends outside SQLite, so it
// has a fast path: a scanner for the lines the writer writes, compact
// JSON in a fixed layout, which reads the queried fields in one pass and
// validates the rest of the line without building anything. The fast
// path's answer is by definition encoding/json's (lineJSON, recordJSON):
// wherever it could differ (another layout, whitespace, a key spelled in
// another case or with escapes, a key given twice, a field of another
// type, deep nesting) the scanner does not decide and encoding/json does.
// FuzzParseLine holds the two to the same answers.

// entry is a parsed line: its sequence number, its record, and the
// record's queried fields, each aliasing the line or, when the line
// spells it with escapes, its decoded copy.
type entry struct {
	seq    uint64
	record []byte
	time   time.Time
	fields [nFields][]byte
}

// The queried fields of a record, in entry.fields; the first nTerms are
// stored as terms.
const (
	fPrincipal = iota
	fAction
	fResource
	fDecision
	fSourceIP
	fDevice
	fErrorCode
	nTerms
	fEventID = nTerms
	nFields  = nTerms + 1
)

// row is e as a Row of node.
func (e *entry) row(node string) Row {
	f := &e.fields
	return Row{Node: node, Seq: e.seq, Time: e.time, Principal: string(f[fPrincipal]), Action: string(f[fAction]),
		Resource: string(f[fResource]), Decision: string(f[fDecision]), SourceIP: string(f[fSourceIP]),
		Device: string(f[fDevice]), ErrorCode: string(f[fErrorCode]), EventID: string(f[fEventID]), Record: e.record}
}

// parseLine reads one segment line, newline excluded. A line that is not
// one gives false: it is not indexed.
func parseLine(line []byte) (e entry, ok bool) {
	if e.seq, e.record, ok = splitLine(line); ok && scanRecord(e.record, &e) {
		return e, true
	}
	return lineJSON(line)
}

// lineJSON is parseLine by encoding/json: any JSON object with a seq and
// a record.
func lineJSON(line []byte) (entry, bool) {
	seq, rec, ok := jsonLine(line)
	if !ok {
		return entry{}, false
	}
	e, err := recordJSON(seq, rec)
	return e, err == nil
}

// jsonLine reads a line's sequence number and record by encoding/json.
func jsonLine(line []byte) (uint64, json.RawMessage, bool) {
	var l struct {
		Seq    uint64          `json:"seq"`
		Record json.RawMessage `json:"record"`
	}
	if json.Unmarshal(line, &l) != nil || len(l.Record) == 0 {
		return 0, nil, false
	}
	return l.Seq, l.Record, true
}

// lineRecord reads a line's sequence number and record, newline
// excluded, as parseLine does, without reading the record's fields.
func lineRecord(line []byte) (uint64, []byte, bool) {
	if seq, rec, ok := splitLine(line); ok {
		// A record that is one compact JSON value makes the line one
		// object of four members, which encoding/json reads alike.
		if s := (scanner{b: rec}); s.skip(0) && s.i == len(rec) {
			return seq, rec, true
		}
	}
	return jsonLine(line)
}

// RowOf extracts the queried fields of a record.
func RowOf(node string, seq uint64, raw json.RawMessage) (Row, error) {
	e := entry{seq: seq, record: raw}
	if scanRecord(raw, &e) {
		return e.row(node), nil
	}
	e, err := recordJSON(seq, raw)
	if err != nil {
		return Row{}, err
	}
	return e.row(node), nil
}

// jsonRecord is the part of an audit.Record the index reads.
type jsonRecord struct {
	UserIdentity struct {
		ARN string `json:"arn"`
	} `json:"userIdentity"`
	EventTime       time.Time `json:"eventTime"`
	EventName       string    `json:"eventName"`
	EventSource     string    `json:"eventSource"`
	SourceIPAddress string    `json:"sourceIPAddress"`
	ErrorCode       string    `json:"errorCode"`
	EventID         string    `json:"eventID"`
	Resources       []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
	ZTGate *struct {
		Decision string `json:"decision"`
		Action   string `json:"action"`
		Device   *struct {
			ID string `json:"id"`
		} `json:"device"`
	} `json:"ztgate"`
}

// recordJSON reads a record's fields by encoding/json.
func recordJSON(seq uint64, raw json.RawMessage) (entry, error) {
	var r jsonRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return entry{}, err
	}
	e := entry{seq: seq, record: raw, time: r.EventTime}
	f := &e.fields
	f[fPrincipal], f[fAction], f[fSourceIP] = []byte(r.UserIdentity.ARN), []byte(r.EventName), []byte(r.SourceIPAddress)
	f[fErrorCode], f[fEventID] = []byte(r.ErrorCode), []byte(r.EventID)
	if len(r.Resources) > 0 {
		f[fResource] = []byte(r.Resources[0].ARN)
	}
	var action []byte
	if z := r.ZTGate; z != nil {
		f[fDecision] = []byte(z.Decision)
		action = []byte(z.Action)
		if z.Device != nil {
			f[fDevice] = []byte(z.Device.ID)
		}
	}
	f[fAction] = actionOf(action, []byte(r.EventSource), f[fAction])
	return e, nil
}

// The layout of a line as the writer writes it (see package audit).
const (
	layoutSeq    = `{"seq":`
	layoutPrev   = `,"prev":"`
	layoutHash   = `","hash":"`
	layoutRecord = `","record":`
	hashHex      = 64
)

// splitLine cuts a line in the writer's layout into its sequence number
// and record; false for any other layout.
func splitLine(b []byte) (seq uint64, rec []byte, ok bool) {
	if !bytes.HasPrefix(b, []byte(layoutSeq)) {
		return 0, nil, false
	}
	b = b[len(layoutSeq):]
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		// 19 digits cannot overflow; a leading zero is not JSON.
		if i == 19 || i == 1 && b[0] == '0' {
			return 0, nil, false
		}
		seq = seq*10 + uint64(b[i]-'0')
	}
	if i == 0 {
		return 0, nil, false
	}
	b = b[i:]
	// The hashes need only be JSON strings: the index does not read them.
	for _, part := range [...]string{layoutPrev, layoutHash} {
		if !bytes.HasPrefix(b, []byte(part)) || len(b) < len(part)+hashHex || plainPrefix(b[len(part):len(part)+hashHex]) != hashHex {
			return 0, nil, false
		}
		b = b[len(part)+hashHex:]
	}
	if !bytes.HasPrefix(b, []byte(layoutRecord)) || len(b) < len(layoutRecord)+1 || b[len(b)-1] != '}' {
		return 0, nil, false
	}
	return seq, b[len(layoutRecord) : len(b)-1], true
}

// maxDepth bounds the nesting the scanner follows; deeper records go to
// encoding/json, which has its own bound.
const maxDepth = 100

// scanner reads compact JSON. Its methods return false where they do not
// decide: invalid JSON, or valid JSON they leave to encoding/json.
type scanner struct {
	b []byte
	i int
}

// scanRecord reads the queried fields of rec, a record in compact JSON,
// into e.
func scanRecord(rec []byte, e *entry) bool {
	s := scanner{b: rec}
	f := &e.fields
	var zAction, source []byte
	ok := s.object(recordKeys, func(k int) bool {
		switch k {
		case kUserIdentity:
			return s.object(identityKeys, func(int) bool { return s.text(&f[fPrincipal]) })
		case kEventTime:
			return s.time(&e.time)
		case kEventName:
			return s.text(&f[fAction])
		case kSourceIP:
			return s.text(&f[fSourceIP])
		case kErrorCode:
			return s.text(&f[fErrorCode])
		case kEventID:
			return s.text(&f[fEventID])
		case kResources:
			return s.resources(&f[fResource])
		case kEventSource:
			return s.text(&source)
		case kZTGate:
			return s.object(ztgateKeys, func(k int) bool {
				switch k {
				case kDecision:
					return s.text(&f[fDecision])
				case kAction:
					return s.text(&zAction)
				}
				return s.object(deviceKeys, func(int) bool { return s.text(&f[fDevice]) })
			})
		}
		return false
	})
	if !ok || s.i != len(rec) {
		return false
	}
	f[fAction] = actionOf(zAction, source, f[fAction])
	return true
}

// actionOf is a record's action as queries name it: ztgate's, when the
// record has one (a gateway decision's http:GET); else its event's name,
// qualified by the service its source names, as IAM spells actions
// (sts.ztgate's AssumeRole is sts:AssumeRole; the gateway's http).
func actionOf(action, source, name []byte) []byte {
	if len(action) > 0 {
		return action
	}
	svc, _, ok := bytes.Cut(source, []byte("."))
	if !ok || len(svc) == 0 || len(name) == 0 || bytes.IndexByte(name, ':') >= 0 {
		return name
	}
	if string(svc) == "gateway" {
		svc = []byte("http")
	}
	return append(append(append(make([]byte, 0, len(svc)+1+len(name)), svc...), ':'), name...)
}

// The keys of the objects the scanner reads into, as jsonRecord names
// them; a key's number is its index.
var (
	recordKeys   = []string{"userIdentity", "eventTime", "eventName", "sourceIPAddress", "errorCode", "eventID", "resources", "ztgate", "eventSource"}
	identityKeys = []string{"arn"}
	resourceKeys = []string{"ARN"}
	ztgateKeys   = []string{"decision", "action", "device"}
	deviceKeys   = []string{"id"}
)

const (
	kUserIdentity = iota
	kEventTime
	kEventName
	kSourceIP
	kErrorCode
	kEventID
	kResources
	kZTGate
	kEventSource
)

const (
	kDecision = iota
	kAction
)

// object reads an object, or null, calling field with s.i at the value of
// each member whose key is keys[k]; field reads the value. Other members
// are skipped. A key given twice, or one encoding/json would take for one
// of keys (another case, escapes), is left to encoding/json, which gives
// the last value, merged.
func (s *scanner) object(keys []string, field func(k int) bool) bool {
	if s.null() {
		return true
	}
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	var seen uint32
	for {
		key, _, ok := s.str()
		if !ok || !s.eat(':') {
			return false
		}
		k := match(keys, key)
		switch {
		case k == noMatch:
			return false
		case k >= 0:
			if seen&(1<<k) != 0 || !field(k) {
				return false
			}
			seen |= 1 << k
		default:
			if !s.skip(1) {
				return false
			}
		}
		if s.eat(',') {
			continue
		}
		return s.eat('}')
	}
}

const (
	noMatch = -2 // a key the scanner cannot place
	other   = -1 // a key of none of the fields
)

// match finds key, the raw bytes of a JSON key, among keys.
func match(keys []string, key []byte) int {
	for k, name := range keys {
		if len(key) == len(name) {
			if string(key) == name {
				return k
			}
			if bytes.EqualFold(key, []byte(name)) {
				return noMatch // encoding/json matches keys in any case
			}
		}
	}
	for _, c := range key {
		// An escape may spell a field's name; a non-ASCII letter may fold
		// to one (K, the Kelvin sign, to k).
		if c == '\\' || c >= utf8.RuneSelf {
			return noMatch
		}
	}
	return other
}

// resources reads an array of resources, or null, into the ARN of the
// first.
func (s *scanner) resources(dst *[]byte) bool {
	if s.null() {
		return true
	}
	if !s.eat('[') {
		return false
	}
	if s.eat(']') {
		return true
	}
	for n := 0; ; n++ {
		var arn []byte
		if !s.object(resourceKeys, func(int) bool { return s.text(&arn) }) {
			return false
		}
		if n == 0 {
			*dst = arn
		}
		if s.eat(',') {
			continue
		}
		return s.eat(']')
	}
}

// text reads a string, or null (leaving dst).
func (s *scanner) text(dst *[]byte) bool {
	if s.null() {
		return true
	}
	start := s.i
	raw, plain, ok := s.str()
	if !ok {
		return false
	}
	if plain && utf8.Valid(raw) {
		*dst = raw
		return true
	}
	// Escapes and invalid UTF-8 are rare: encoding/json decodes them.
	var v string
	if json.Unmarshal(s.b[start:s.i], &v) != nil {
		return false
	}
	*dst = []byte(v)
	return true
}

// time reads a time as time.Time's UnmarshalJSON does, or null.
func (s *scanner) time(dst *time.Time) bool {
	if s.null() {
		return true
	}
	start := s.i
	if _, _, ok := s.str(); !ok {
		return false
	}
	return dst.UnmarshalJSON(s.b[start:s.i]) == nil
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) null() bool { return s.literal("null") }

func (s *scanner) literal(lit string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		s.i += len(lit)
		return true
	}
	return false
}

// str reads a string and returns its raw contents, escapes undecoded,
// and whether it has none.
func (s *scanner) str() (raw []byte, plain, ok bool) {
	if !s.eat('"') {
		return nil, false, false
	}
	start := s.i
	i := start + plainPrefix(s.b[start:])
	plain = true
	for i < len(s.b) {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], plain, true
		case c < 0x20:
			return nil, false, false
		case c != '\\':
			i++
		case i+1 < len(s.b) && isEscape(s.b[i+1]):
			i, plain = i+2, false
		case i+5 < len(s.b) && s.b[i+1] == 'u' && isHex(s.b[i+2:i+6]):
			i, plain = i+6, false
		default:
			return nil, false, false
		}
	}
	return nil, false, false
}

func isEscape(c byte) bool {
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	}
	return false
}

func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// plainPrefix is the length of b's longest prefix of bytes a JSON string
// holds as they are: not a quote, a backslash, or a control character.
// It looks at eight bytes at a time: a byte x is below n when x - n
// borrows, leaving its top bit set, which it cannot otherwise with x's
// own top bit clear; and a byte equals c when x ^ c is below 1. A borrow
// only flags bytes above the byte it comes from, so the lowest flag is
// the first such byte.
func plainPrefix(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^('"'*ones), x^('\\'*ones)
		if m := ((x-0x20*ones)&^x | (q-ones)&^q | (bs-ones)&^bs) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '"' || c == '\\' {
			break
		}
	}
	return i
}

// skip reads and validates any value at nesting depth.
func (s *scanner) skip(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{', '[':
		if depth >= maxDepth {
			return false
		}
		s.i++
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if s.eat(end) {
			return true
		}
		for {
			if c == '{' {
				if _, _, ok := s.str(); !ok || !s.eat(':') {
					return false
				}
			}
			if !s.skip(depth + 1) {
				return false
			}
			if s.eat(',') {
				continue
			}
			return s.eat(end)
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.null()
	}
	return s.number()
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	s.eat('-')
	if s.eat('0') {
		// no more integer digits
	} else if !s.digits() {
		return false
	}
	if s.eat('.') && !s.digits() {
		return false
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		return s.digits()
	}
	return true
}

// digits reads one or more digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}
