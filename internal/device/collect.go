package device

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LinuxCollector gathers a Linux host's posture from files, running no
// command:
//
//   - OS version: ID and VERSION_ID (BUILD_ID when there is none) of
//     /etc/os-release, else /usr/lib/os-release.
//   - Disk encryption: the block device of the file system mounted at /
//     (from /proc/self/mountinfo: its device number, else its source) is
//     a dm-crypt device, or is built on one through the slaves of
//     /sys/block/*/slaves, whatever lies between (LVM, RAID): a
//     device-mapper device whose /sys/block/DEV/dm/uuid is cryptsetup's
//     "CRYPT-TYPE-..." for an encrypting TYPE (LUKS1, LUKS2, PLAIN,
//     BITLK, ...; not VERITY nor INTEGRITY, which only check).
//     A root on tmpfs, overlay or a network file system is reported not
//     encrypted, as is file-system-level encryption (fscrypt, ZFS).
//   - Firewall: a base chain at the input hook of an nftables table of
//     the ip, ip6 or inet family that holds a rule or drops by default
//     (this covers nft, firewalld, ufw and iptables-nft), read through
//     netlink; or, for the legacy iptables, a filter table listed in
//     /proc/net/ip_tables_names or ip6_tables_names whose INPUT chain holds
//     a rule, read with the IPT_SO_GET_INFO socket option. Both need
//     CAP_NET_ADMIN: without it the firewall is reported off, with a note.
//   - Screen lock: reported false. Whether a desktop session locks cannot
//     be read from files with any confidence, and a headless host has no
//     screen to lock.
//
// Facts it cannot establish are reported false, never guessed, and the
// report's Notes say why.
type LinuxCollector struct {
	// Root is where the host's file system is: "/" when empty. Tests
	// point it at a fixture tree.
	Root string
	// AgentVersion goes into the report as is.
	AgentVersion string
	// Now is the clock: time.Now when nil.
	Now func() time.Time
	// firewall reads the kernel's packet filter: the netlink and socket
	// option probes when nil.
	firewall firewallProbe
}

// firewallProbe reads the kernel's packet filter rules.
type firewallProbe interface {
	// nftInput counts, over the base chains at the input hook of ip, ip6
	// and inet tables, their rules, and tells whether one drops by
	// default.
	nftInput() (rules int, drop bool, err error)
	// legacyInput counts the rules of the legacy iptables INPUT chain of
	// the filter table, for IPv6 when v6 is set.
	legacyInput(v6 bool) (rules int, err error)
}

// CollectLinux gathers this host's posture. See LinuxCollector.
func CollectLinux() (Report, error) {
	return LinuxCollector{}.Collect()
}

// Collect gathers the posture of the host at c.Root. It fails only when
// the host is not recognisable as Linux (no os-release).
func (c LinuxCollector) Collect() (Report, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	rep := Report{OS: PlatformLinux, AgentVersion: c.AgentVersion}
	var err error
	if rep.Distribution, rep.OSVersion, err = c.osRelease(); err != nil {
		return Report{}, err
	}
	var note string
	rep.DiskEncrypted, note = c.rootEncrypted()
	rep.addNote(note)
	rep.FirewallEnabled, note = c.firewallOn()
	rep.addNote(note)
	rep.ScreenLock = false
	rep.addNote("screen lock: not determined on linux; reported false")
	rep.CollectedAt = now().UTC().Truncate(time.Second)
	return rep, nil
}

func (r *Report) addNote(n string) {
	if n == "" || len(r.Notes) >= maxNotes {
		return
	}
	if len(n) > maxNoteLen {
		n = n[:maxNoteLen]
	}
	r.Notes = append(r.Notes, strings.ToValidUTF8(n, "?"))
}

func (c LinuxCollector) path(p string) string {
	root := c.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, filepath.FromSlash(p))
}

// readSmall reads a small pseudo-file, at most 1 MiB.
func (c LinuxCollector) readSmall(p string) ([]byte, error) {
	f, err := os.Open(c.path(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(io.LimitReader(f, 1<<20))
	return b.Bytes(), err
}

// osRelease reads the distribution's ID and version from os-release.
func (c LinuxCollector) osRelease() (id, version string, err error) {
	var text []byte
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if text, err = c.readSmall(p); err == nil {
			break
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("device: no os-release: %w", err)
	}
	vals := parseOSRelease(text)
	id = vals["ID"]
	version = vals["VERSION_ID"]
	if version == "" {
		version = vals["BUILD_ID"]
	}
	if version == "" {
		version = "unknown"
	}
	if !printable(id, maxVersionLen) {
		id = ""
	}
	if !printable(version, maxVersionLen) {
		version = "unknown"
	}
	return id, version, nil
}

// parseOSRelease reads os-release's KEY=VALUE lines, values optionally
// quoted with shell quoting's common cases.
func parseOSRelease(text []byte) map[string]string {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			q := v[0]
			v = v[1 : len(v)-1]
			if q == '"' {
				v = strings.NewReplacer(`\"`, `"`, `\\`, `\`, "\\`", "`", `\$`, `$`).Replace(v)
			}
		}
		vals[k] = v
	}
	return vals
}

// rootEncrypted tells whether the file system at / lies on dm-crypt.
func (c LinuxCollector) rootEncrypted() (bool, string) {
	text, err := c.readSmall("/proc/self/mountinfo")
	if err != nil {
		return false, "disk encryption: cannot read /proc/self/mountinfo; reported false"
	}
	devNum, source, fstype, ok := rootMount(text)
	if !ok {
		return false, "disk encryption: no file system mounted at /; reported false"
	}
	dev := c.blockByNumber(devNum)
	if dev == "" {
		dev = c.blockBySource(source)
	}
	if dev == "" {
		return false, "disk encryption: the root file system (" + fstype + ") is on no block device found in /sys/block; reported false"
	}
	if c.onCrypt(dev, 0) {
		return true, ""
	}
	return false, ""
}

// rootMount returns the device number, source and type of the last
// mount at / in a mountinfo text (the last one is what / shows).
func rootMount(text []byte) (devNum, source, fstype string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, found := strings.Cut(sc.Text(), " - ")
		if !found {
			continue
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 5 || len(g) < 2 || f[4] != "/" {
			continue
		}
		devNum, fstype, source, ok = f[2], g[0], unescapeMount(g[1]), true
	}
	return devNum, source, fstype, ok
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// blockByNumber finds the block device (or partition) whose
// /sys/block/DEV/dev, or /sys/block/DEV/PART/dev, holds devNum.
func (c LinuxCollector) blockByNumber(devNum string) string {
	if devNum == "" || strings.HasPrefix(devNum, "0:") { // anonymous: btrfs, overlay, tmpfs
		return ""
	}
	disks, err := os.ReadDir(c.path("/sys/block"))
	if err != nil {
		return ""
	}
	for _, d := range disks {
		if c.devFile("/sys/block/"+d.Name()+"/dev") == devNum {
			return d.Name()
		}
		parts, _ := os.ReadDir(c.path("/sys/block/" + d.Name()))
		for _, p := range parts {
			if strings.HasPrefix(p.Name(), d.Name()) && c.devFile("/sys/block/"+d.Name()+"/"+p.Name()+"/dev") == devNum {
				return p.Name()
			}
		}
	}
	return ""
}

func (c LinuxCollector) devFile(p string) string {
	b, err := c.readSmall(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// blockBySource finds the block device a mount source names:
// /dev/mapper/NAME (a device-mapper name), /dev/dm-N, /dev/NAME, or a
// link to one of them (/dev/disk/by-uuid/...).
func (c LinuxCollector) blockBySource(source string) string {
	if !strings.HasPrefix(source, "/dev/") {
		return ""
	}
	if real, err := filepath.EvalSymlinks(c.path(source)); err == nil {
		if rel, err := filepath.Rel(c.path("/dev"), real); err == nil && !strings.HasPrefix(rel, "..") {
			source = "/dev/" + filepath.ToSlash(rel)
		}
	}
	if name, ok := strings.CutPrefix(source, "/dev/mapper/"); ok {
		dms, _ := filepath.Glob(c.path("/sys/block/dm-*"))
		for _, dm := range dms {
			if b, err := os.ReadFile(filepath.Join(dm, "dm", "name")); err == nil && strings.TrimSpace(string(b)) == name {
				return filepath.Base(dm)
			}
		}
		return ""
	}
	name := strings.TrimPrefix(source, "/dev/")
	if strings.Contains(name, "/") {
		return ""
	}
	if _, err := os.Stat(c.path("/sys/block/" + name)); err == nil {
		return name
	}
	// A partition: /sys/block/DISK/NAME.
	if ps, _ := filepath.Glob(c.path("/sys/block/*/" + name)); len(ps) > 0 {
		return name
	}
	return ""
}

// maxStackDepth bounds the walk down a device stack: sysfs has no cycles,
// but a fixture or a broken kernel must not loop.
const maxStackDepth = 16

// onCrypt tells whether dev is a dm-crypt device or lies on one.
func (c LinuxCollector) onCrypt(dev string, depth int) bool {
	if depth > maxStackDepth || dev == "" || strings.ContainsAny(dev, "/\x00") || dev == "." || dev == ".." {
		return false
	}
	if uuid, err := c.readSmall("/sys/block/" + dev + "/dm/uuid"); err == nil && cryptUUID(string(uuid)) {
		return true
	}
	slaves, err := os.ReadDir(c.path("/sys/block/" + dev + "/slaves"))
	if err != nil {
		return false
	}
	for _, s := range slaves {
		if c.onCrypt(s.Name(), depth+1) {
			return true
		}
	}
	return false
}

// cryptUUID tells whether a device-mapper uuid is cryptsetup's for an
// encrypted device: "CRYPT-TYPE-...", where TYPE is not one of the
// integrity-only targets cryptsetup also names so (dm-verity,
// dm-integrity), which protect data but do not hide it.
func cryptUUID(uuid string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(uuid), "CRYPT-")
	if !ok {
		return false
	}
	typ, _, _ := strings.Cut(rest, "-")
	return typ != "" && typ != "VERITY" && typ != "INTEGRITY"
}

// firewallOn tells whether a packet filter guards the host's input.
func (c LinuxCollector) firewallOn() (bool, string) {
	probe := c.firewall
	if probe == nil {
		probe = kernelFirewall{}
	}
	var notes []string
	rules, drop, err := probe.nftInput()
	switch {
	case err == nil && (rules > 0 || drop):
		return true, ""
	case errors.Is(err, fs.ErrPermission):
		notes = append(notes, "nftables: permission denied (CAP_NET_ADMIN needed)")
	case err != nil:
		notes = append(notes, "nftables: "+err.Error())
	}
	for _, v6 := range []bool{false, true} {
		names := "/proc/net/ip_tables_names"
		if v6 {
			names = "/proc/net/ip6_tables_names"
		}
		text, err := c.readSmall(names)
		if err != nil || !hasLine(text, "filter") {
			continue
		}
		n, err := probe.legacyInput(v6)
		switch {
		case err == nil && n > 0:
			return true, ""
		case errors.Is(err, fs.ErrPermission):
			notes = append(notes, "iptables: permission denied (CAP_NET_ADMIN needed)")
		case err != nil:
			notes = append(notes, "iptables: "+err.Error())
		}
	}
	if len(notes) > 0 {
		return false, "firewall: " + strings.Join(notes, "; ") + "; reported false"
	}
	return false, ""
}

func hasLine(text []byte, line string) bool {
	for l := range strings.SplitSeq(string(text), "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
