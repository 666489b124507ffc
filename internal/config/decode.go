package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxSize is the largest configuration file Parse accepts. ztgate's whole
// configuration fits in a few kilobytes; anything near this is a mistake,
// and the limit bounds the work done on hostile input.
const maxSize = 1 << 20

// maxAliasWork is how many key-value pairs and alias references that
// aliases and merge keys may add to a document beyond its own size. A
// document without aliases never comes near it; one built to expand
// exponentially (a "billion laughs") stops here with an error.
const maxAliasWork = 10_000

// Load reads the configuration file at path and parses it as Parse does,
// naming the file by path in errors.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	// One byte past the limit is enough for Parse to refuse the file.
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data, a YAML configuration named name in error messages,
// over the defaults and checks the result. An empty document yields the
// defaults. On failure the error is an [Errors] listing every problem found,
// and the Config is nil.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	d := &decoder{file: name, pos: map[string]position{}, failed: map[string]bool{}}
	if root := d.document(data); root != nil {
		d.budget = countNodes(root) + maxAliasWork
		d.decode(root, reflect.ValueOf(c).Elem(), "", false)
	}
	// A default bounded by another key yields to it: device certificates
	// live at most ca.max_ttl, and a file that lowers the cap without
	// naming devices.cert_ttl means the cap.
	if _, set := d.pos["devices.cert_ttl"]; !set && c.Devices.CertTTL.D() > c.CA.MaxTTL.D() {
		c.Devices.CertTTL = Duration(max(time.Hour, c.CA.MaxTTL.D()))
	}
	ch := &checker{file: name, pos: d.pos, skip: d.failed}
	ch.check(c)
	if err := finish(append(d.errs, ch.errs...)); err != nil {
		return nil, err
	}
	return c, nil
}

// Default returns the configuration that an empty file yields: every key
// at the value of its default tag.
func Default() *Config {
	c := new(Config)
	setDefaults(reflect.ValueOf(c).Elem(), "")
	return c
}

// setDefaults sets the keys of the section v, at path, to their defaults.
// It runs on Config and, as the decoder meets them, on each element of a
// sequence of mappings, so that a key left out of an element takes its
// default as a key left out of a section does.
func setDefaults(v reflect.Value, path string) {
	for _, f := range fields(v.Type()) {
		p := join(path, f.key)
		fv := v.Field(f.index)
		if isSection(f.typ) {
			setDefaults(fv, p)
			continue
		}
		if !f.hasDef {
			continue
		}
		// A default tag is YAML, decoded by the same rules as a file, so
		// that what the reference shows is exactly what a file may say.
		var doc yaml.Node
		err := yaml.Unmarshal([]byte(f.def), &doc)
		d := &decoder{budget: maxAliasWork, pos: map[string]position{}, failed: map[string]bool{}}
		if err == nil && len(doc.Content) == 1 {
			d.decode(doc.Content[0], fv, p, f.secret)
		}
		if err != nil || len(doc.Content) != 1 || len(d.errs) > 0 {
			// The tags are constants checked by TestDefaults.
			panic(fmt.Sprintf("config: bad default tag on %s: %q", p, f.def))
		}
	}
}

// position is where a value starts in the file.
type position struct{ line, col int }

// decoder walks a yaml.Node tree into a Config by reflection, collecting
// every problem rather than stopping at the first.
type decoder struct {
	file      string
	errs      []*Error
	pos       map[string]position // where each key path's value was written
	failed    map[string]bool     // key paths whose value could not be decoded
	budget    int                 // units of work left; see spend
	exhausted bool
	merging   map[*yaml.Node]bool // mappings being merged, to catch cycles
}

func (d *decoder) errorf(n *yaml.Node, path string, kind error, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: fmt.Sprintf(format, args...), Kind: kind}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// fail reports a value that could not be decoded, so that validation does
// not also complain about the default left in its place.
func (d *decoder) fail(n *yaml.Node, path string, kind error, format string, args ...any) {
	d.failed[path] = true
	d.errorf(n, path, kind, format, args...)
}

// document parses data and returns the root node of its one document, or
// nil when there is nothing to decode.
func (d *decoder) document(data []byte) *yaml.Node {
	if len(data) > maxSize {
		d.errorf(nil, "", ErrSyntax, "file is larger than %d bytes", maxSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decodeYAML(dec, &doc); err != nil {
		if !errors.Is(err, io.EOF) { // io.EOF: empty, or only comments
			d.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := decodeYAML(dec, &next); {
	case err == nil:
		d.errorf(&yaml.Node{Line: next.Line, Column: max(next.Column, 1)}, "", ErrSyntax,
			"a second YAML document starts here; a configuration file holds one")
	case !errors.Is(err, io.EOF):
		d.syntax(err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// decodeYAML parses one document. yaml.v3 turns its own failures into
// errors; should a panic escape it anyway, reading a configuration must
// fail rather than take the process down.
func decodeYAML(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("yaml: the parser failed on this input")
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax reports a yaml.v3 parse error, which gives at most a line.
func (d *decoder) syntax(err error) {
	msg, line := err.Error(), 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Msg: "invalid YAML: " + msg, Kind: ErrSyntax})
}

// countNodes counts the nodes of the tree at n without following aliases.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// spend accounts for one unit of decoding work: a key-value pair, an
// element of a sequence or an alias followed. Without aliases a document
// cannot spend more than its node count; once aliases have spent the rest,
// decoding stops with one error.
func (d *decoder) spend(n *yaml.Node) bool {
	if d.budget > 0 {
		d.budget--
		return true
	}
	if !d.exhausted {
		d.exhausted = true
		d.errorf(n, "", ErrSyntax, "aliases expand to too many values (limit %d)", maxAliasWork)
	}
	return false
}

// resolve follows aliases to the node they name; nil means stop.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		if !d.spend(n) {
			return nil
		}
		n = n.Alias
	}
	return n
}

const (
	strTag   = "!!str"
	intTag   = "!!int"
	boolTag  = "!!bool"
	nullTag  = "!!null"
	mergeTag = "!!merge"
)

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag
}

// isText reports whether the scalar n may be read as text: a string, or a
// number, boolean or timestamp, which YAML resolves but which are also
// plain words (a node name of 01, a path of 2024).
func isText(n *yaml.Node) bool {
	switch n.ShortTag() {
	case strTag, intTag, "!!float", boolTag, "!!timestamp":
		return true
	}
	return false
}

// decode stores the value at n into v, which is the key path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, secret bool) {
	n = d.resolve(n)
	if n == nil || isNull(n) {
		return
	}
	d.pos[path] = position{n.Line, n.Column}
	t := v.Type()
	switch {
	case isSection(t):
		d.section(n, v, path)
		return
	case isList(t):
		d.sequence(n, v, path, secret)
		return
	}
	want := typeName(t)
	if n.Kind != yaml.ScalarNode || !isText(n) {
		d.fail(n, path, ErrType, "expected %s %s, got %s", article(want), want, describe(n))
		return
	}
	switch {
	case t == durationType:
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.fail(n, path, ErrType, `cannot use %s as a duration (e.g. "30s")`, show(n, secret))
			return
		}
		v.SetInt(int64(dur))
	case t.Kind() == reflect.String:
		v.SetString(n.Value)
	case t.Kind() == reflect.Bool:
		var b bool
		if n.ShortTag() != boolTag || n.Decode(&b) != nil {
			d.fail(n, path, ErrType, "cannot use %s as a boolean (true or false)", show(n, secret))
			return
		}
		v.SetBool(b)
	default: // integer; typeName has rejected every other kind
		var i int64
		if n.ShortTag() != intTag || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(n, path, ErrType, "cannot use %s as an integer", show(n, secret))
			return
		}
		v.SetInt(i)
	}
}

// section decodes the mapping n into the struct v.
func (d *decoder) section(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, ErrType, "expected a mapping, got %s", describe(n))
		return
	}
	fs := fields(v.Type())
	ps := d.pairs(n, path)
	for _, p := range ps {
		i := fieldIndex(fs, p.key)
		if i < 0 {
			d.unknown(p.k, path, fs, ps)
			continue
		}
		f := fs[i]
		d.decode(p.v, v.Field(f.index), join(path, f.key), f.secret)
	}
}

// sequence decodes the sequence n into the slice v, replacing what v held:
// a sequence in a file is the whole list, not additions to a default.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string, secret bool) {
	if n.Kind != yaml.SequenceNode {
		want := typeName(v.Type())
		d.fail(n, path, ErrType, "expected %s %s, got %s", article(want), want, describe(n))
		return
	}
	et := v.Type().Elem()
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		if !d.spend(item) {
			break
		}
		item = d.resolve(item)
		if item == nil {
			break
		}
		p := index(path, i)
		e := reflect.New(et).Elem()
		if isSection(et) {
			setDefaults(e, p)
		}
		if isNull(item) {
			// In a sequence, null is not "the default" but an element
			// left blank ("- " with nothing after it), most likely by
			// mistake.
			want := typeName(et)
			d.fail(item, p, ErrType, "expected %s %s, got null", article(want), want)
		} else {
			d.decode(item, e, p, secret)
		}
		// Every element is kept, even one that failed, so that the index
		// of an element is its index in the file, which validation's
		// messages name.
		s = reflect.Append(s, e)
	}
	if s.Len() == 0 {
		// An empty sequence is stored as nil, the zero value, so that
		// "key: []" and a key left out at an empty default compare equal.
		v.SetZero()
		return
	}
	v.Set(s)
}

func fieldIndex(fs []field, key string) int {
	for i, f := range fs {
		if f.key == key {
			return i
		}
	}
	return -1
}

// pair is one entry of a mapping after merge keys are applied.
type pair struct {
	key  string
	k, v *yaml.Node
}

// pairs returns the entries of the mapping m at path: its own keys, then
// those of the mappings it merges with "<<" that it does not set itself,
// earlier merges taking precedence, as YAML's merge key specifies.
func (d *decoder) pairs(m *yaml.Node, path string) []pair {
	if d.merging == nil {
		d.merging = map[*yaml.Node]bool{}
	}
	d.merging[m] = true
	defer delete(d.merging, m)

	var out []pair
	first := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !d.spend(m.Content[i]) {
			return out
		}
		k, v := d.resolve(m.Content[i]), m.Content[i+1]
		switch {
		case k == nil:
			return out
		case k.Kind == yaml.ScalarNode && k.ShortTag() == mergeTag:
			merges = append(merges, v)
			continue
		case k.Kind != yaml.ScalarNode || k.ShortTag() != strTag:
			d.errorf(k, path, ErrType, "keys must be strings, got %s", describe(k))
			continue
		}
		if f, dup := first[k.Value]; dup {
			key := clip(k.Value)
			d.fail(k, join(path, key), ErrDuplicateKey, "duplicate key %q (first at line %d)", key, f.Line)
			continue
		}
		first[k.Value] = k
		out = append(out, pair{k.Value, k, v})
	}
	for _, mv := range merges {
		for _, src := range d.mergeSources(mv, path) {
			if d.merging[src] {
				d.errorf(mv, join(path, "<<"), ErrType, "merges a mapping that contains this one")
				continue
			}
			for _, p := range d.pairs(src, path) {
				if _, set := first[p.key]; !set {
					first[p.key] = p.k
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// mergeSources returns the mappings that the value of a "<<" key names:
// one mapping, or a sequence of them.
func (d *decoder) mergeSources(v *yaml.Node, path string) []*yaml.Node {
	v = d.resolve(v)
	if v == nil || isNull(v) {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, item := range v.Content {
			it := d.resolve(item)
			if it == nil {
				return out
			}
			if it.Kind != yaml.MappingNode {
				d.errorf(it, join(path, "<<"), ErrType, "expected a mapping to merge, got %s", describe(it))
				continue
			}
			out = append(out, it)
		}
		return out
	}
	d.errorf(v, join(path, "<<"), ErrType, "expected a mapping or a sequence of mappings to merge, got %s", describe(v))
	return nil
}

// unknown reports the key k, which no field of the section at path
// matches, suggesting the field it most likely misspells. ps are the
// section's entries.
func (d *decoder) unknown(k *yaml.Node, path string, fs []field, ps []pair) {
	key := clip(k.Value)
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.key
	}
	if s, ok := suggest(k.Value, names); ok {
		p := join(path, s)
		if !slices.ContainsFunc(ps, func(p pair) bool { return p.key == s }) {
			// The misspelling explains why the key is missing; validation
			// need not say so again ("required when ...").
			d.failed[p] = true
		}
		d.errorf(k, p, ErrUnknownKey, "unknown key %q (did you mean %q?)", key, s)
		return
	}
	d.errorf(k, join(path, key), ErrUnknownKey, "unknown key %q", key)
}

// describe names what the node n holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	switch tag := n.ShortTag(); tag {
	case strTag:
		return "a string"
	case intTag:
		return "an integer"
	case "!!float":
		return "a number"
	case boolTag:
		return "a boolean"
	case "!!timestamp":
		return "a timestamp"
	case "!!binary":
		return "binary data"
	case nullTag:
		return "null"
	default:
		return "a value tagged " + clip(tag)
	}
}

func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an"
	}
	return "a"
}

// show quotes the scalar n for a message, unless it is secret.
func show(n *yaml.Node, secret bool) string {
	if secret {
		return "this value"
	}
	return fmt.Sprintf("%q", clip(n.Value))
}

// clip shortens s for a message, so that one huge value or key cannot
// flood the output.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
