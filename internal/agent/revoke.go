package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/ztgate/ztgate/internal/pki"
	"github.com/ztgate/ztgate/internal/store"
)

// revokeAgent marks the agent name revoked, so that every node refuses
// its calls from its next request, and revokes its certificates through
// the CA, so that every node refuses them wherever they are presented
// once the change feed brings the revocation: the current and previous
// ones on record, and any other unexpired certificate the CA issued for
// the agent's SPIFFE ID (from an earlier registration, say). Revoking a
// revoked agent revokes anything missed the first time.
func (s *Server) revokeAgent(ctx context.Context, ca *pki.CA, st store.Store, name, reason, by string) (AgentRecord, []string, error) {
	if err := CheckName(name); err != nil {
		return AgentRecord{}, nil, err
	}
	now := s.clock().UTC()
	var a AgentRecord
	_, err := st.Update(ctx, func(tx store.Tx) error {
		var rev int64
		var err error
		if a, rev, err = getAgent(ctx, tx, name); err != nil {
			return err
		}
		if a.Revoked {
			return nil
		}
		a.Revoked, a.RevokedAt, a.RevokedBy, a.RevokeReason = true, now, by, reason
		return putAgent(ctx, tx, a, rev)
	})
	if err != nil {
		return AgentRecord{}, nil, err
	}
	serials := map[string]bool{}
	for _, sn := range []string{a.Serial, a.Previous} {
		if sn != "" {
			serials[sn] = true
		}
	}
	certs, err := st.List(ctx, pki.KindCert, "")
	if err != nil {
		return a, nil, fmt.Errorf("agent %s is marked revoked, but its certificates could not be listed: %w", name, err)
	}
	for _, rec := range certs {
		var c pki.CertRecord
		if json.Unmarshal(rec.Value, &c) == nil && c.SPIFFEID == a.SPIFFEID && now.Before(c.NotAfter) {
			serials[c.Serial] = true
		}
	}
	var revoked []string
	var errs []error
	for sn := range serials {
		n, err := pki.ParseSerial(sn)
		if err != nil {
			continue
		}
		switch err := ca.Revoke(ctx, n, pki.ReasonPrivilegeWithdrawn, by); {
		case err == nil:
			revoked = append(revoked, serialText(n))
		case errors.Is(err, pki.ErrUnknownCert):
		default:
			errs = append(errs, err)
		}
	}
	slices.Sort(revoked)
	if len(errs) > 0 {
		return a, revoked, fmt.Errorf("agent %s is marked revoked, but revoking its certificates failed: %w", name, errors.Join(errs...))
	}
	return a, revoked, nil
}
