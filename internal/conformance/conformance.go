// Package conformance locates the shared conformance corpora that tests
// read in place (SigV4 suite, IAM decisions, policy validation, STS
// model, SPIFFE fixtures): never copied into the repository.
package conformance

import (
	"os"
	"path/filepath"
)

// Env overrides where the corpora are.
const Env = "ZTGATE_CONFORMANCE_DIR"

// Root returns the corpora's folder: $ZTGATE_CONFORMANCE_DIR, else
// ../shared/conformance beside the module root (found by walking up from
// the working directory to go.mod), else "". The folder may not exist:
// tests that need it skip with a message saying so.
func Root() string {
	if d := os.Getenv(Env); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "conformance")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
