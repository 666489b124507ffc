package keys

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"
)

// referenceText is the hand-written part of docs/policy.md. Its template
// actions insert the tables generated from the catalogue.
//
//go:embed reference.md.tmpl
var referenceText string

// Reference returns docs/policy.md: the policy language, its evaluation
// and its commands (hand-written, in reference.md.tmpl), with the table of
// condition keys generated from the catalogue.
func Reference() string {
	t := template.Must(template.New("reference.md.tmpl").Funcs(template.FuncMap{
		"typeTable": typeTable,
		"keyTable":  keyTable,
		"neverSet":  neverSetList,
	}).Parse(referenceText))
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		// The template is fixed at build time and its functions cannot
		// fail; TestReferenceUpToDate runs it.
		panic(err)
	}
	return b.String()
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// typeTable lists the types with their operators and value syntax.
func typeTable() string {
	var b strings.Builder
	b.WriteString("| type | operators | values are written as |\n|---|---|---|\n")
	for _, t := range Types() {
		ops := t.Operators()
		for i, op := range ops {
			ops[i] = "`" + op + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t, strings.Join(ops, ", "), cell(t.syntax()))
	}
	return b.String()
}

// keyTable lists the catalogue's keys whose names start with prefix
// ("aws:" or "zt:").
func keyTable(prefix string) string {
	var b strings.Builder
	b.WriteString("| key | type | values | where the value comes from | meaning |\n|---|---|---|---|---|\n")
	for _, k := range catalogue {
		if !strings.HasPrefix(k.Name, prefix) {
			continue
		}
		name := k.Name
		if k.Prefix {
			name += "<key>"
		}
		n := "single"
		if k.Multi {
			n = "multi"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", name, k.Type, n, cell(k.Source), cell(k.Doc))
	}
	return b.String()
}

// neverSetList lists the AWS global keys ztgate never sets, by reason.
func neverSetList() string {
	var b strings.Builder
	for _, g := range neverSet {
		names := make([]string, len(g.names))
		for i, n := range g.names {
			names[i] = "`" + n + "`"
		}
		fmt.Fprintf(&b, "- %s: %s.\n", strings.Join(names, ", "), g.why)
	}
	return b.String()
}
