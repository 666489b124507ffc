package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Reference returns the Markdown reference of every configuration key,
// generated from the struct tags of Config. docs/config.md holds its output.
func Reference() string {
	var b strings.Builder
	b.WriteString(`# Configuration reference

<!-- Generated from internal/config/types.go. Do not edit: change the doc and
default tags there, then run
go test ./internal/config -run TestReferenceUpToDate -update -->

ztgate reads its configuration from one YAML file. Every key is optional:
a key left out, or set to nothing, keeps its default, and an empty file runs
ztgate on the defaults below. Keys nest: ` + "`store.postgres.dsn`" + ` is the key
` + "`dsn`" + ` in the mapping ` + "`postgres`" + ` in the mapping ` + "`store`" + `.

The file is read strictly: an unknown key, a key given twice, a value of the
wrong type or a second YAML document is an error, and every error in the
file is reported with its line and column. ` + "`ztgate config validate FILE`" + `
checks a file without starting ztgate; ` + "`ztgate config example`" + ` prints a
file that sets every key to its default, with these descriptions as
comments.

Durations are written in Go's syntax (` + "`300ms`, `5s`, `1m30s`, `2h`" + `) and must
be greater than zero, except where a key says what 0 means or gives its
own bounds. A secret value never appears in logs or error messages.

A list is a YAML sequence, written as a block (one ` + "`- `" + ` line per element) or in
flow style (` + "`[a, b]`" + `). A list given in the file replaces its default as a
whole. The keys of the mappings in a list are named with ` + "`[]`" + `:
` + "`iam.roles[].name`" + ` is the key ` + "`name`" + ` in each mapping of the list ` + "`roles`" + ` in
the mapping ` + "`iam`" + `, and errors name the element by its index, counting from
0, as in ` + "`iam.roles[2].name`" + `. A key marked required must be set in every
element, and a required list must hold at least one element.
`)
	t := reflect.TypeFor[Config]()
	var top []field
	for _, f := range fields(t) {
		if !isSection(f.typ) {
			top = append(top, f)
		}
	}
	if len(top) > 0 {
		b.WriteString("\n## Top level\n\n")
		tableHead(&b)
		for _, f := range top {
			row(&b, f.key, f)
		}
	}
	for _, f := range fields(t) {
		if !isSection(f.typ) {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", f.key, f.doc)
		if hasTable(f.typ) {
			// The shape of a list of mappings is easier to see than to
			// read from rows of paths.
			b.WriteString("For example:\n\n```yaml\n" + f.key + ":\n")
			example(&b, f.typ, "  ", style{sample: true})
			b.WriteString("```\n\n")
		}
		tableHead(&b)
		rows(&b, f.typ, f.key)
	}
	return b.String()
}

func tableHead(b *strings.Builder) {
	b.WriteString("| Key | Type | Default | Description |\n")
	b.WriteString("| --- | --- | --- | --- |\n")
}

// rows writes a row for each key below the section type t at path, with a
// row of its own for each nested section and sequence of mappings.
func rows(b *strings.Builder, t reflect.Type, path string) {
	for _, f := range fields(t) {
		p := join(path, f.key)
		row(b, p, f)
		switch {
		case isSection(f.typ):
			rows(b, f.typ, p)
		case isTable(f.typ):
			rows(b, f.typ.Elem(), p+"[]")
		}
	}
}

// hasTable reports whether the section type t holds a sequence of
// mappings, directly or below.
func hasTable(t reflect.Type) bool {
	for _, f := range fields(t) {
		if isTable(f.typ) || isSection(f.typ) && hasTable(f.typ) {
			return true
		}
	}
	return false
}

func row(b *strings.Builder, path string, f field) {
	typ := typeName(f.typ)
	if f.secret {
		typ += ", secret"
	}
	def := "—"
	switch {
	case isSection(f.typ):
		def = ""
	case f.required:
		def = "required"
	case f.hasDef:
		def = "`" + f.def + "`"
	case f.typ.Kind() == reflect.String, isList(f.typ):
		def = "empty"
	}
	fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", path, typ, def, cell(f.doc))
}

// cell escapes s for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
