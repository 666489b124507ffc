package policy

import "strconv"

// Pos is a position in a policy document: 1-based line and column (in
// bytes). The zero Pos means unknown.
type Pos struct {
	Line, Col int
}

// String formats a position as "line:col".
func (p Pos) String() string {
	return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// Effect is a statement's effect.
type Effect string

// The two effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Versions of the policy language.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17" // policy variables are literal text
)

// Document is a parsed policy document, as written: no defaults are
// applied and nothing is compiled.
type Document struct {
	Pos          Pos    // of the document's opening brace
	Version      string // "" when absent (which AWS reads as 2008-10-17)
	VersionPos   Pos
	ID           string
	StatementPos Pos // of the Statement element's value
	Statements   []*Statement
}

// Statement is one statement. Slices are nil when their element is absent
// and non-nil (possibly empty) when present.
type Statement struct {
	Pos          Pos
	Sid          string
	SidPos       Pos
	Effect       Effect
	EffectPos    Pos
	Principal    *Principal
	NotPrincipal *Principal
	Action       []Value
	NotAction    []Value
	Resource     []Value
	NotResource  []Value
	Conditions   []Condition
}

// Value is a string element with its position. JSON numbers and booleans,
// which AWS accepts in some places (condition values), keep their literal
// text ("5", "true").
type Value struct {
	S   string
	Pos Pos
}

// Principal is a Principal or NotPrincipal element.
type Principal struct {
	Pos      Pos
	Wildcard bool // "Principal": "*"
	Bare     bool // a string other than "*", read as {"AWS": string}; invalid
	Entries  []PrincipalEntry
}

// Principal types. SPIFFE is ztgate's key for workload identities:
// "Principal": {"SPIFFE": "spiffe://example.org/ns/prod/sa/api"}.
const (
	PrincipalAWS           = "AWS"
	PrincipalService       = "Service"
	PrincipalFederated     = "Federated"
	PrincipalCanonicalUser = "CanonicalUser"
	PrincipalSPIFFE        = "SPIFFE"
)

// PrincipalEntry is one type of principal and its values
// ({"AWS": ["arn:...", "111122223333"]}).
type PrincipalEntry struct {
	Type    string
	TypePos Pos
	Values  []Value
}

// Condition is one operator/key pair of a Condition block with its values:
// {"StringEquals": {"aws:username": ["a", "b"]}} gives one Condition.
type Condition struct {
	Pos      Pos // of the key
	Operator string
	OpPos    Pos
	Key      string
	Values   []Value
}
