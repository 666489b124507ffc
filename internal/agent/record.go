package agent

import (
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// Store kinds of the package's records.
const (
	// KindJoinToken holds one joinToken per outstanding join token, keyed
	// by the SHA-256 of the token in lowercase hex: the token itself is
	// stored nowhere.
	KindJoinToken = "agent-join-token"
	// KindAgent holds one AgentRecord per agent, keyed by its name.
	KindAgent = "agent"
	// KindEntry holds one registration entry per record, keyed by
	// PARENT/ID so that an agent's entries are one prefix scan.
	KindEntry = "workload-entry"
)

// joinToken is the stored side of a join token.
type joinToken struct {
	Name      string    `json:"name"` // the agent it admits
	Expires   time.Time `json:"expires"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// AgentRecord is the store's account of one agent, as the control API
// lists it.
type AgentRecord struct {
	Name     string    `json:"name"`
	SPIFFEID string    `json:"spiffe_id"`
	Joined   time.Time `json:"joined"`
	// Serial is the agent's current certificate, lowercase hex; the
	// certificate it replaced (Previous) stays usable until renewed
	// again, so that an answer lost in transit does not lock the agent
	// out.
	Serial   string    `json:"serial"`
	Previous string    `json:"previous_serial,omitempty"`
	NotAfter time.Time `json:"not_after"` // the current certificate's
	Renewed  time.Time `json:"renewed,omitzero"`

	Revoked      bool      `json:"revoked,omitempty"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

// holds reports whether serial is one of the agent's usable certificates.
func (a *AgentRecord) holds(serial *big.Int) bool {
	for _, s := range []string{a.Serial, a.Previous} {
		if n, ok := new(big.Int).SetString(s, 16); ok && s != "" && n.Cmp(serial) == 0 {
			return true
		}
	}
	return false
}

// entryRecord is a stored registration entry.
type entryRecord struct {
	ID         string    `json:"id"`
	SPIFFEID   string    `json:"spiffe_id"`
	Parent     string    `json:"parent"`
	Selectors  []string  `json:"selectors"`
	TTLSeconds int64     `json:"ttl_seconds,omitempty"`
	Created    time.Time `json:"created"`
	CreatedBy  string    `json:"created_by"`
}

func (e *entryRecord) ttl() time.Duration { return time.Duration(e.TTLSeconds) * time.Second }

func (e *entryRecord) toJSON() EntryJSON {
	j := EntryJSON{ID: e.ID, SPIFFEID: e.SPIFFEID, Parent: e.Parent, Selectors: e.Selectors, Created: e.Created}
	if e.TTLSeconds > 0 {
		j.TTL = e.ttl().String()
	}
	return j
}

// entryKey is an entry's record key.
func entryKey(parent, id string) string { return parent + "/" + id }

// serialText is a serial number as the records and answers spell it.
func serialText(n *big.Int) string { return n.Text(16) }

func decode(rec store.Record, v any) error {
	if err := json.Unmarshal(rec.Value, v); err != nil {
		return fmt.Errorf("agent: record %s/%s is not valid json", rec.Kind, rec.Key)
	}
	return nil
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the package's own record types always marshal
	}
	return b
}
