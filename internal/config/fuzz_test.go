package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that a failure is always an
// Errors list, and that whatever Parse accepts, Validate accepts too. The
// seeds are testdata/*.yaml and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(Example()))
	f.Add([]byte(Dev("127.0.0.1:8080")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse error is %T %v, want a non-empty Errors", err, err)
			}
			if c != nil {
				t.Fatal("Parse returned both a Config and an error")
			}
			return
		}
		if err := Validate(c); err != nil {
			t.Fatalf("Parse accepted a Config that Validate rejects: %v", err)
		}
	})
}
