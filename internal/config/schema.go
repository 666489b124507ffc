package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// field is one key of a configuration section, read from its struct tags.
type field struct {
	key    string // yaml tag
	doc    string // doc tag
	def    string // default tag, in YAML syntax; empty when there is none
	hasDef bool
	// example tag, in YAML syntax: the value shown in the sample element of
	// a sequence (see [Example]) when it differs from the default.
	example    string
	hasExample bool
	// required:"true": the value must be set and not empty. Only keys in
	// the elements of a sequence are required; a section's keys all have
	// usable defaults.
	required bool
	secret   bool // secret:"true": the value never appears in errors or logs
	index    int
	typ      reflect.Type
}

var (
	durationType = reflect.TypeFor[Duration]()
	configType   = reflect.TypeFor[Config]()
)

// fields lists the keys of the section type t in declaration order.
func fields(t reflect.Type) []field {
	out := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || key == "" || key == "-" {
			continue
		}
		def, hasDef := sf.Tag.Lookup("default")
		ex, hasEx := sf.Tag.Lookup("example")
		out = append(out, field{
			key:        key,
			doc:        sf.Tag.Get("doc"),
			def:        def,
			hasDef:     hasDef,
			example:    ex,
			hasExample: hasEx,
			required:   sf.Tag.Get("required") == "true",
			secret:     sf.Tag.Get("secret") == "true",
			index:      i,
			typ:        sf.Type,
		})
	}
	return out
}

// isSection reports whether values of t are written as a mapping of keys.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

// isList reports whether values of t are written as a sequence: a slice of
// scalars or of sections.
func isList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice
}

// isTable reports whether values of t are written as a sequence of
// mappings, each decoded as a section.
func isTable(t reflect.Type) bool {
	return isList(t) && isSection(t.Elem())
}

// typeName names t as the reference and error messages do.
func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case isSection(t):
		return "mapping"
	case isList(t) && !isList(t.Elem()):
		// A sequence of sequences has no use in the configuration and is
		// refused below, by the panic on the element's type.
		return "sequence of " + typeName(t.Elem()) + "s"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	}
	// Reached only if a field of a type the decoder does not handle is added
	// to Config; TestSchemaTypes fails first.
	panic(fmt.Sprintf("config: unsupported field type %s", t))
}

// join extends a dotted key path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index names the i-th element of the sequence at path, as in
// "iam.roles[2]".
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parent returns the path of the mapping or sequence that holds the value
// at path: "iam.roles[2]" for "iam.roles[2].name", "iam.roles" for
// "iam.roles[2]", "" for a top-level key.
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// leaf is a key that holds a value rather than a section.
type leaf struct {
	path string
	field
}

// leaves lists every value key below the section type t, depth first in
// declaration order, with its full path. A sequence of mappings is a value
// key itself, followed by the keys of its elements under path[], as in
// "iam.roles[].name".
func leaves(t reflect.Type, path string) []leaf {
	var out []leaf
	for _, f := range fields(t) {
		p := join(path, f.key)
		if isSection(f.typ) {
			out = append(out, leaves(f.typ, p)...)
			continue
		}
		out = append(out, leaf{p, f})
		if isTable(f.typ) {
			out = append(out, leaves(f.typ.Elem(), p+"[]")...)
		}
	}
	return out
}
