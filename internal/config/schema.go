package config

import (
	"fmt"
	"reflect"
	"strings"
)

// field is one key of a configuration section, read from its struct tags.
type field struct {
	key    string // yaml tag
	doc    string // doc tag
	def    string // default tag, in YAML syntax; empty when there is none
	hasDef bool
	secret bool // secret:"true": the value never appears in errors or logs
	index  int
	typ    reflect.Type
}

var durationType = reflect.TypeFor[Duration]()

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
		out = append(out, field{
			key:    key,
			doc:    sf.Tag.Get("doc"),
			def:    def,
			hasDef: hasDef,
			secret: sf.Tag.Get("secret") == "true",
			index:  i,
			typ:    sf.Type,
		})
	}
	return out
}

// isSection reports whether values of t are written as a mapping of keys.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

// typeName names t as the reference and error messages do.
func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case isSection(t):
		return "mapping"
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

// leaf is a key that holds a value rather than a section.
type leaf struct {
	path string
	field
}

// leaves lists every value key below the section type t, depth first in
// declaration order, with its full path.
func leaves(t reflect.Type, path string) []leaf {
	var out []leaf
	for _, f := range fields(t) {
		p := join(path, f.key)
		if isSection(f.typ) {
			out = append(out, leaves(f.typ, p)...)
			continue
		}
		out = append(out, leaf{p, f})
	}
	return out
}
