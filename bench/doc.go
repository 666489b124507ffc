// Package bench measures ztgate's policy decisions against two other
// engines, Open Policy Agent and cedar-go, on one workload
// (internal/authz/workload) expressed faithfully in each engine's own
// language.
//
// It is a module of its own on purpose: the engines it measures against
// must never enter ztgate's dependency graph. Being under ztgate's import
// path, it may use ztgate's internal packages.
package bench

import "github.com/ztgate/ztgate/internal/authz/workload"

// Engine is one policy engine loaded with a workload's policies.
type Engine interface {
	// Prepare turns a request into the engine's own form, once, so that
	// a benchmark measures the decision alone, as a server would that
	// has already parsed the request.
	Prepare(workload.Request) (Prepared, error)
}

// Prepared is a request ready to be decided.
type Prepared interface {
	// Allowed decides the request: true only when it is allowed.
	Allowed() (bool, error)
}

// Builder loads a workload's policies into an engine.
type Builder struct {
	Name  string
	Build func([]workload.Policy) (Engine, error)
}

// Builders returns the engines measured, ztgate first.
func Builders() []Builder {
	return []Builder{
		{"ztgate", BuildZtgate},
		{"opa", BuildOPA},
		{"cedar", BuildCedar},
	}
}

// Workload returns the workload's policies, total in all, the target's
// first.
func Workload(total int) []workload.Policy {
	target, others := workload.Generate(total)
	return append(target, others...)
}
