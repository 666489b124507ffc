package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ztgate/ztgate/internal/conformance"
)

// The IAM policy-validation corpus: moto's cases for IAM CreatePolicy, each
// an identity policy and the MalformedPolicyDocument message AWS returns
// for it. It lives outside the repository (it is Apache-2.0 data we do not
// ship); the test finds it through ZTGATE_CONFORMANCE_DIR or beside the
// module, as ../shared/conformance.

const corpusName = "iam-policy-validation"

// knownDivergences are corpus cases ztgate answers differently from moto on
// purpose, with the reason. Each must still fail in exactly the stated way,
// so a divergence cannot hide a second one.
var knownDivergences = map[string]struct {
	reason string
	first  string // the message ztgate reports instead
}{}

type corpusCase struct {
	ID       string          `json:"id"`
	Document json.RawMessage `json:"document"`
	Expected struct {
		Valid        bool   `json:"valid"`
		ErrorMessage string `json:"error_message"`
	} `json:"expected"`
}

func TestConformanceIAMPolicyValidation(t *testing.T) {
	root := conformance.Root()
	if root == "" {
		t.Skipf("conformance corpus %s not found: no go.mod above the package; set ZTGATE_CONFORMANCE_DIR to the directory holding %s/", corpusName, corpusName)
	}
	path := filepath.Join(root, corpusName, "policy-validation-cases.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("conformance corpus %s not found at %q; set ZTGATE_CONFORMANCE_DIR to the directory holding %s/", corpusName, path, corpusName)
	}
	if err != nil {
		t.Fatal(err)
	}
	var corpus struct {
		Count int          `json:"count"`
		Cases []corpusCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &corpus); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(corpus.Cases) == 0 || len(corpus.Cases) != corpus.Count {
		t.Fatalf("%s: %d cases, header says %d", path, len(corpus.Cases), corpus.Count)
	}

	passed, diverged := 0, 0
	for _, c := range corpus.Cases {
		ok := t.Run(c.ID, func(t *testing.T) {
			// The raw JSON text is what moto sends (json.dumps keeps key
			// order), so positions and document order are the corpus's.
			_, errs := Check(c.Document, Identity)
			if d, ok := knownDivergences[c.ID]; ok {
				if len(errs) != 1 || errs[0].Msg != d.first {
					t.Fatalf("known divergence (%s): want exactly %q, got %v", d.reason, d.first, errs)
				}
				t.Logf("known divergence: %s", d.reason)
				return
			}
			switch {
			case c.Expected.Valid && len(errs) > 0:
				t.Errorf("valid document rejected:\n%s\n%v", c.Document, errs)
			case !c.Expected.Valid && len(errs) == 0:
				t.Errorf("invalid document accepted, want %q:\n%s", c.Expected.ErrorMessage, c.Document)
			case !c.Expected.Valid && errs[0].Msg != c.Expected.ErrorMessage:
				t.Errorf("first problem %q, want %q:\n%s\n%v", errs[0].Msg, c.Expected.ErrorMessage, c.Document, errs)
			}
		})
		switch _, known := knownDivergences[c.ID]; {
		case ok && known:
			diverged++
		case ok:
			passed++
		}
	}
	for id := range knownDivergences {
		found := false
		for _, c := range corpus.Cases {
			found = found || c.ID == id
		}
		if !found {
			t.Errorf("known divergence %s is not in the corpus", id)
		}
	}
	t.Logf("%s: %d/%d passed, %d known divergences (listed in knownDivergences)", corpusName, passed, len(corpus.Cases), diverged)
}
