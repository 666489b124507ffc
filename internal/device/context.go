package device

import (
	"strconv"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
	"github.com/ztgate/ztgate/internal/authz"
	"github.com/ztgate/ztgate/internal/policy/keys"
)

// Context sets the zt:Device* condition keys of a request from the device
// deviceID at time now, as docs/policy.md describes them, and reports
// whether the device is known. An unknown or revoked device sets nothing:
// its requests carry no device keys, as from no device at all, and an
// enforcement point that authenticated it by certificate must refuse it.
//
// For a known device it sets zt:DeviceId, zt:DeviceManaged,
// zt:DeviceGroups (an empty list for none), zt:DeviceOwner (when the
// device has one) and zt:DeviceCompliant; and, once the device has
// reported, zt:DevicePlatform, zt:DeviceOSVersion, zt:DeviceDiskEncrypted,
// zt:DeviceFirewallEnabled, zt:DeviceScreenLock and zt:DevicePostureAge
// (whole seconds from the report's signing to now, 0 for a report signed
// ahead of the server's clock). It reads memory only and takes no lock.
func (r *Registry) Context(deviceID string, now time.Time, c *authz.Context) bool {
	st := r.lookup(deviceID)
	if st == nil || st.dev.Revoked != nil {
		return false
	}
	d, p := st.dev, st.posture
	c.SetString(keys.DeviceID, d.ID)
	c.SetString(keys.DeviceManaged, boolText(d.Managed))
	c.Set(keys.DeviceGroups, keys.List(d.Groups))
	if d.Owner != "" {
		c.SetString(keys.DeviceOwner, d.Owner)
	}
	c.SetString(keys.DeviceCompliant, boolText(r.compliant(p, now)))
	if p == nil {
		return true
	}
	c.SetString(keys.DevicePlatform, p.Report.OS)
	c.SetString(keys.DeviceOSVersion, p.Report.OSVersion)
	c.SetString(keys.DeviceDiskEncrypted, boolText(p.Report.DiskEncrypted))
	c.SetString(keys.DeviceFirewallEnabled, boolText(p.Report.FirewallEnabled))
	c.SetString(keys.DeviceScreenLock, boolText(p.Report.ScreenLock))
	c.SetString(keys.DevicePostureAge, strconv.FormatInt(int64(postureAge(p, now)/time.Second), 10))
	return true
}

// compliant is the registry's posture requirement: a report that shows an
// encrypted disk, a firewall and a screen lock, signed no longer than the
// maximum posture age ago. No report is no compliance.
func (r *Registry) compliant(p *postureRecord, now time.Time) bool {
	return p != nil && p.Report.DiskEncrypted && p.Report.FirewallEnabled && p.Report.ScreenLock &&
		postureAge(p, now) <= r.maxAge
}

// postureAge is how long ago the report was signed; a report signed ahead
// of now (within the skew accepted) is new, not negative.
func postureAge(p *postureRecord, now time.Time) time.Duration {
	return max(now.Sub(p.SignedAt), 0)
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// AuditDevice describes the device for an audit record's actor, or
// returns nil when the registry does not hold it (or it is revoked).
func (r *Registry) AuditDevice(deviceID string, now time.Time) *audit.Device {
	st := r.lookup(deviceID)
	if st == nil || st.dev.Revoked != nil {
		return nil
	}
	a := &audit.Device{ID: st.dev.ID, Managed: st.dev.Managed, Compliant: r.compliant(st.posture, now)}
	if st.posture != nil {
		a.Platform = st.posture.Report.OS
	}
	return a
}
