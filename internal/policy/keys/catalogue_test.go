package keys

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestCatalogue checks every entry: documented, well named, well typed,
// and unique.
func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Catalogue() {
		if k.Source == "" || k.Doc == "" {
			t.Errorf("%s: needs both a Source and a Doc", k.Name)
		}
		if !k.Type.Valid() {
			t.Errorf("%s: type %q is not a Type", k.Name, k.Type)
		}
		if !strings.HasPrefix(k.Name, "aws:") && !strings.HasPrefix(k.Name, "zt:") {
			t.Errorf("%s: a key is aws:… (an AWS global key) or zt:… (ztgate's own)", k.Name)
		}
		if k.Prefix != strings.HasSuffix(k.Name, "/") {
			t.Errorf("%s: a prefix key, and only a prefix key, ends in '/'", k.Name)
		}
		if k.Prefix && k.Multi {
			t.Errorf("%s: tag keys are single-valued", k.Name)
		}
		for _, text := range []string{k.Source, k.Doc} {
			if !strings.HasSuffix(text, ".") {
				t.Errorf("%s: %q should be a sentence ending in '.'", k.Name, text)
			}
		}
		lower := strings.ToLower(k.Name)
		if seen[lower] {
			t.Errorf("%s: named twice (names compare case-insensitively)", k.Name)
		}
		seen[lower] = true
	}
	for _, n := range NeverSet() {
		if seen[strings.ToLower(n)] {
			t.Errorf("%s is both in the catalogue and never set", n)
		}
		if !strings.HasPrefix(n, "aws:") {
			t.Errorf("%s: only AWS global keys are listed as never set", n)
		}
	}
}

// TestCatalogueHasEveryConstant keeps the exported key names and the
// catalogue in step: each constant has an entry and each entry a constant.
func TestCatalogueHasEveryConstant(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "catalogue.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{} // key name → constant
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !id.IsExported() || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, _ := strconv.Unquote(lit.Value)
				if strings.HasPrefix(s, "aws:") || strings.HasPrefix(s, "zt:") {
					consts[s] = id.Name
				}
			}
		}
	}
	names := map[string]bool{}
	for _, k := range Catalogue() {
		names[k.Name] = true
		if consts[k.Name] == "" {
			t.Errorf("%s has no exported constant", k.Name)
		}
	}
	for name, c := range consts {
		if !names[name] {
			t.Errorf("constant %s = %q is not in the catalogue", c, name)
		}
	}
}

func TestCatalogueIsACopy(t *testing.T) {
	c := Catalogue()
	c[0].Name = "changed"
	if Catalogue()[0].Name == "changed" {
		t.Fatal("Catalogue hands out the package's own slice")
	}
}

func TestTypes(t *testing.T) {
	ops := map[string]Type{}
	for _, typ := range Types() {
		if !typ.Valid() {
			t.Errorf("%s is not Valid", typ)
		}
		if len(typ.Operators()) == 0 || typ.syntax() == "" {
			t.Errorf("%s: needs operators and a value syntax", typ)
		}
		for _, op := range typ.Operators() {
			if other, ok := ops[op]; ok {
				t.Errorf("%s is an operator of both %s and %s", op, other, typ)
			}
			ops[op] = typ
		}
	}
	// Every IAM condition operator but Null belongs to exactly one family.
	for _, op := range []string{
		"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike",
		"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals",
		"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals",
		"Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike",
	} {
		if _, ok := ops[op]; !ok {
			t.Errorf("operator %s is in no family", op)
		}
		delete(ops, op)
	}
	for op := range ops {
		t.Errorf("%s is not an IAM condition operator", op)
	}
	for _, bad := range []Type{"", "string", "Integer"} {
		if bad.Valid() || bad.Operators() != nil {
			t.Errorf("%q must not be a valid type", bad)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		want string // the catalogue entry's name; "" for no entry
	}{
		{"aws:SourceIp", SourceIP},
		{"AWS:SOURCEIP", SourceIP},
		{"aws:sourceip", SourceIP},
		{"zt:devicegroups", DeviceGroups},
		{"zt:DeviceId", DeviceID},
		{"aws:PrincipalTag/team", PrincipalTagPrefix},
		{"aws:principaltag/Team", PrincipalTagPrefix},
		{"aws:RequestTag/cost-center", RequestTagPrefix},
		{"aws:ResourceTag/a/b", ResourceTagPrefix},
		{"aws:PrincipalTag/", ""}, // a tag key is never empty
		{"aws:PrincipalTag", ""},
		{"aws:PrincipalTagX", ""},
		{"aws:SourceIpX", ""},
		{"aws:SourceVpc", ""}, // never set
		{"s3:prefix", ""},
		{"zt:SourceCountry", ""},
		{"", ""},
	}
	for _, tc := range tests {
		k, ok := Lookup(tc.name)
		if ok != (tc.want != "") || k.Name != tc.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tc.name, k.Name, ok, tc.want)
		}
	}
	if k, _ := Lookup("zt:DeviceGroups"); !k.Multi || k.Type != String {
		t.Errorf("zt:DeviceGroups: got %+v, want a multivalued String", k)
	}
	if k, _ := Lookup("aws:PrincipalTag/team"); !k.Prefix {
		t.Error("aws:PrincipalTag/team should find a prefix key")
	}
}

// TestLookupDoesNotAllocate: validators and tools call Lookup for every
// condition key of every policy.
func TestLookupDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"aws:sourceip", "aws:PrincipalTag/team", "zt:nope"} {
		if n := testing.AllocsPerRun(100, func() { Lookup(name) }); n != 0 {
			t.Errorf("Lookup(%q): %v allocations, want 0", name, n)
		}
	}
}
