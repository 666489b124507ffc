package device

import (
	"time"

	"github.com/ztgate/ztgate/internal/audit"
)

// AuditSource is the eventSource of the registry's audit records.
const AuditSource = "device.ztgate"

// The eventName of each audited action.
const (
	EventEnroll      = "EnrollDevice"
	EventReport      = "ReportDevicePosture"
	EventRenew       = "RenewDeviceCertificate"
	EventRevoke      = "RevokeDevice"
	EventCreateToken = "CreateEnrollmentToken"
	EventRevokeToken = "RevokeEnrollmentToken"
)

// Resource types of the records.
const (
	resourceDevice = "ztgate::Device"
	resourceToken  = "ztgate::EnrollmentToken"
)

// Parameter names avoid the words audit.Redact treats as secret ("token",
// "signature", ...): what they hold is public, and needed to trace.

func deviceResource(spiffeID string) []audit.Resource {
	return []audit.Resource{{ARN: spiffeID, Type: resourceDevice}}
}

func tokenResource(id string) []audit.Resource {
	return []audit.Resource{{ARN: "ztgate:device-enrollment:" + id, Type: resourceToken}}
}

func deviceIdentity(id, spiffeID string) audit.UserIdentity {
	return audit.UserIdentity{Type: "Device", PrincipalID: id, ARN: spiffeID}
}

// enrolledEvent records a device certificate issued at enrollment.
func enrolledEvent(a audit.Actor, rid string, e *Enrollment) *audit.Record {
	d := e.Device
	a.Identity = deviceIdentity(d.ID, d.SPIFFEID)
	a.Device = &audit.Device{ID: d.ID, Managed: d.Managed} // found by the device, as its later records are
	leaf := e.Chain[0]
	return audit.IssuedEvent{
		Actor: a, Source: AuditSource, Name: EventEnroll, RequestID: rid,
		Resources: deviceResource(d.SPIFFEID),
		Parameters: map[string]any{
			"enrollmentId": d.Enrollment, "name": d.Name, "owner": d.Owner, "managed": d.Managed, "groups": d.Groups,
		},
		Response: map[string]any{
			"deviceId": d.ID, "spiffeId": d.SPIFFEID, "serialNumber": serialHex(leaf),
			"notAfter": leaf.NotAfter.UTC().Format(time.RFC3339),
		},
	}.Record()
}

// enrollRefusedEvent records a refused enrollment: an authentication
// failure, since the token is what authenticates it. The reason is the
// audit log's, not the caller's.
func enrollRefusedEvent(a audit.Actor, rid string, ref refusal, tokenID, reason string) *audit.Record {
	a.Identity = audit.UserIdentity{Type: "Unknown"}
	params := map[string]any{"reason": reason}
	if tokenID != "" {
		params["enrollmentId"] = tokenID
	}
	return audit.AuthFailureEvent{
		Actor: a, Source: AuditSource, Name: EventEnroll, RequestID: rid,
		Code: ref.code, Message: ref.message, Parameters: params,
	}.Record()
}

// reportEvent records an accepted posture report: a change to the facts
// decisions are made with.
func reportEvent(a audit.Actor, rid, spiffeID string, acc *Accepted) *audit.Record {
	a.Identity = deviceIdentity(acc.DeviceID, spiffeID)
	rep := acc.Report
	return audit.AdminEvent{
		Actor: a, Source: AuditSource, Name: EventReport, RequestID: rid,
		Resources: deviceResource(spiffeID),
		Parameters: map[string]any{
			"os": rep.OS, "osVersion": rep.OSVersion, "distribution": rep.Distribution,
			"diskEncrypted": rep.DiskEncrypted, "firewallEnabled": rep.FirewallEnabled, "screenLock": rep.ScreenLock,
			"agentVersion": rep.AgentVersion, "collectedAt": rep.CollectedAt.Format(time.RFC3339),
			"signedAt": acc.SignedAt.Format(time.RFC3339), "serialNumber": acc.Serial,
		},
		Response: map[string]any{"compliant": acc.Compliant},
	}.Record()
}

// reportRefusedEvent records a refused report, naming the device it
// claimed to come from, if it said.
func reportRefusedEvent(a audit.Actor, rid string, ref refusal, claimed, reason string) *audit.Record {
	return signedRefusedEvent(EventReport, a, rid, ref, claimed, reason)
}

// renewRefusedEvent records a refused renewal, as a refused report.
func renewRefusedEvent(a audit.Actor, rid string, ref refusal, claimed, reason string) *audit.Record {
	return signedRefusedEvent(EventRenew, a, rid, ref, claimed, reason)
}

// signedRefusedEvent records a refused request a device signs (event
// name), naming the device it claimed to come from, if it said.
func signedRefusedEvent(name string, a audit.Actor, rid string, ref refusal, claimed, reason string) *audit.Record {
	a.Identity = audit.UserIdentity{Type: "Unknown"}
	if claimed != "" {
		a.Identity = audit.UserIdentity{Type: "Device", PrincipalID: claimed}
	}
	return audit.AuthFailureEvent{
		Actor: a, Source: AuditSource, Name: name, RequestID: rid,
		Code: ref.code, Message: ref.message, Parameters: map[string]any{"reason": reason},
	}.Record()
}

// renewedEvent records a device certificate issued by a renewal, or a
// current chain sent again (resent: nothing issued).
func renewedEvent(a audit.Actor, rid string, ren *Renewal) *audit.Record {
	d := ren.Device
	a.Identity = deviceIdentity(d.ID, d.SPIFFEID)
	leaf := ren.Chain[0]
	return audit.IssuedEvent{
		Actor: a, Source: AuditSource, Name: EventRenew, RequestID: rid,
		Resources: deviceResource(d.SPIFFEID),
		Parameters: map[string]any{
			"previousSerialNumber": ren.Previous, "signedAt": ren.SignedAt.Format(time.RFC3339),
		},
		Response: map[string]any{
			"deviceId": d.ID, "spiffeId": d.SPIFFEID, "serialNumber": serialHex(leaf),
			"notAfter": leaf.NotAfter.UTC().Format(time.RFC3339), "resent": ren.Resent,
		},
	}.Record()
}

// revokedEvent records a device revocation, made or failed.
func revokedEvent(a audit.Actor, rid, id, reason string, d *Device, err error, ref refusal) *audit.Record {
	res := deviceResource(id)
	params := map[string]any{"deviceId": id}
	if d != nil {
		res = deviceResource(d.SPIFFEID)
		serials := make([]string, 0, len(d.Certificates))
		for _, c := range d.Certificates {
			serials = append(serials, c.Serial)
		}
		params["serialNumbers"] = serials
	}
	rec := audit.RevocationEvent{
		Actor: a, Source: AuditSource, Name: EventRevoke, RequestID: rid,
		Resources: res, Reason: reason, Parameters: params,
	}.Record()
	if err != nil {
		rec.ErrorCode, rec.ErrorMessage = ref.code, ref.message
	}
	return rec
}

// tokenCreatedEvent records an enrollment token made, or refused.
func tokenCreatedEvent(a audit.Actor, rid string, req TokenRequest, info *TokenInfo, ref *refusal) *audit.Record {
	ev := audit.AdminEvent{
		Actor: a, Source: AuditSource, Name: EventCreateToken, RequestID: rid,
		Parameters: map[string]any{
			"name": req.Name, "owner": req.Owner, "managed": req.Managed, "groups": req.Groups,
			"lifetime": req.TTL.String(),
		},
	}
	if info != nil {
		ev.Resources = tokenResource(info.ID)
		ev.Response = map[string]any{"enrollmentId": info.ID, "expiresAt": info.ExpiresAt.Format(time.RFC3339)}
	}
	if ref != nil {
		ev.Code, ev.Message = ref.code, ref.message
	}
	return ev.Record()
}

// tokenRevokedEvent records an enrollment token revoked, or not.
func tokenRevokedEvent(a audit.Actor, rid, id string, err error, ref refusal) *audit.Record {
	rec := audit.RevocationEvent{
		Actor: a, Source: AuditSource, Name: EventRevokeToken, RequestID: rid,
		Resources: tokenResource(id), Parameters: map[string]any{"enrollmentId": id},
	}.Record()
	if err != nil {
		rec.ErrorCode, rec.ErrorMessage = ref.code, ref.message
	}
	return rec
}
