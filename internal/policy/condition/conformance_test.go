package condition

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ztgate/ztgate/internal/conformance"

	"github.com/ztgate/ztgate/internal/policy/keys"
)

// The conformance corpus is AGPL data kept outside the repository; it is
// read in place and never copied here.

type operatorCase struct {
	ID              string                     `json:"id"`
	Operator        string                     `json:"operator"`
	Name            string                     `json:"name"`
	RequestContext  map[string]json.RawMessage `json:"requestContext"`
	ContextKeyValue json.RawMessage            `json:"contextKeyValue"`
	PolicyValues    []string                   `json:"policyValues"`
	ExpectedMatch   bool                       `json:"expectedMatch"`
}

// contextValue reads a corpus value: a string, or a list of strings.
// It reports false for null.
func contextValue(raw json.RawMessage) (keys.Values, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return keys.Values{}, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return keys.Single(s), true, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return keys.Values{}, false, err
	}
	return keys.List(list), true, nil
}

// conformanceKey is the key under test; the corpus names none.
const conformanceKey = "ztgate:ConformanceKey"

// TestOperatorConformance runs the single-operator cases of iam-simulate.
//
// Where iam-simulate evaluates a policy value it cannot read (a number,
// date or CIDR block that is not one) as "no match", a strict Compile
// fails with ErrUnreadable, and the lenient one the engine uses makes a
// condition that never matches: those cases are evaluated so.
func TestOperatorConformance(t *testing.T) {
	dir := conformance.Root()
	path := filepath.Join(dir, "iam-simulate", "operator-cases.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || dir == "" {
		t.Skipf("conformance corpus not found at %s: set ZTGATE_CONFORMANCE_DIR to the folder holding iam-simulate/operator-cases.json", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	var corpus struct {
		Count int            `json:"count"`
		Cases []operatorCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &corpus); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(corpus.Cases) != corpus.Count {
		t.Fatalf("%s: %d cases, header says %d", path, len(corpus.Cases), corpus.Count)
	}
	passed := 0
	var rejected []string
	for _, tc := range corpus.Cases {
		ok := t.Run(tc.ID, func(t *testing.T) {
			ctx := keys.Map{}
			for k, raw := range tc.RequestContext {
				v, present, err := contextValue(raw)
				if err != nil {
					t.Fatalf("requestContext[%q]: %v", k, err)
				}
				if present {
					ctx[k] = v
				}
			}
			v, present, err := contextValue(tc.ContextKeyValue)
			if err != nil {
				t.Fatalf("contextKeyValue: %v", err)
			}
			if present {
				ctx[conformanceKey] = v
			}
			c, err := Compile(tc.Operator, conformanceKey, tc.PolicyValues, Options{Vars: true})
			if err != nil {
				if tc.ExpectedMatch || !errors.Is(err, ErrUnreadable) {
					t.Fatalf("%s: Compile(%q, %q): %v; the corpus expects match=%v", tc.Name, tc.Operator, tc.PolicyValues, err, tc.ExpectedMatch)
				}
				// As the engine compiles it: a condition that never
				// matches, which is what the corpus expects.
				if c, err = Compile(tc.Operator, conformanceKey, tc.PolicyValues, Options{Vars: true, Lenient: true}); err != nil {
					t.Fatalf("%s: lenient Compile: %v", tc.Name, err)
				}
				rejected = append(rejected, tc.ID)
			}
			if got := c.Eval(ctx); got != tc.ExpectedMatch {
				t.Errorf("%s: %s %q against %s (context %v) = %v, want %v",
					tc.Name, tc.Operator, tc.PolicyValues, tc.ContextKeyValue, tc.RequestContext, got, tc.ExpectedMatch)
			}
		})
		if ok {
			passed++
		}
	}
	t.Logf("operator cases: %d/%d passed", passed, len(corpus.Cases))
	t.Logf("%d of them with a value the operator cannot read, evaluated as never matching: %v", len(rejected), rejected)
}
