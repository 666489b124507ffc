package device

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/linux")

// fakeFirewall is a kernel whose packet filter a case's probe.json
// describes.
type fakeFirewall struct {
	NFTRules    int    `json:"nft_rules"`
	NFTDrop     bool   `json:"nft_drop"`
	NFTErr      string `json:"nft_err"`
	LegacyRules int    `json:"legacy_rules"`
	LegacyErr   string `json:"legacy_err"`
	legacyAsked int
}

func fakeErr(s string) error {
	switch s {
	case "":
		return nil
	case "permission":
		return fmt.Errorf("netlink receive: %w", syscall.EPERM)
	}
	return errors.New(s)
}

func (f *fakeFirewall) nftInput() (int, bool, error) {
	return f.NFTRules, f.NFTDrop, fakeErr(f.NFTErr)
}

func (f *fakeFirewall) legacyInput(bool) (int, error) {
	f.legacyAsked++
	return f.LegacyRules, fakeErr(f.LegacyErr)
}

// TestCollectLinux runs the collector on each fixture tree of
// testdata/linux and compares its report with the case's want.json
// (-update rewrites them).
func TestCollectLinux(t *testing.T) {
	cases, err := os.ReadDir(filepath.Join("testdata", "linux"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", "linux", c.Name())
			probe := new(fakeFirewall)
			b, err := os.ReadFile(filepath.Join(dir, "probe.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, probe); err != nil {
				t.Fatal(err)
			}
			rep, err := LinuxCollector{Root: dir, AgentVersion: "1.2.3", Now: func() time.Time { return testNow }, firewall: probe}.Collect()
			var got []byte
			if err != nil {
				got = []byte("error: " + err.Error() + "\n")
			} else {
				if err := rep.validate(); err != nil {
					t.Fatalf("the collector made an invalid report: %v", err)
				}
				got, _ = json.MarshalIndent(rep, "", "  ")
				got = append(got, '\n')
			}
			golden := filepath.Join(dir, "want.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("report\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestCollectNoGuess: what cannot be read is false, never guessed.
func TestCollectNoGuess(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte("ID=debian\nVERSION_ID=\"12\"\n"), 0o644)
	probe := &fakeFirewall{NFTErr: "permission", LegacyErr: "permission"}
	rep, err := LinuxCollector{Root: root, firewall: probe}.Collect()
	if err != nil {
		t.Fatal(err)
	}
	if rep.DiskEncrypted || rep.FirewallEnabled || rep.ScreenLock || len(rep.Notes) != 3 {
		t.Fatalf("report %+v", rep)
	}
	if probe.legacyAsked != 0 {
		t.Error("legacy iptables asked though no filter table is loaded")
	}
}

func TestParseOSRelease(t *testing.T) {
	got := parseOSRelease([]byte("# comment\nID=\"opensuse-leap\"\nVERSION_ID='15.6'\nNAME=\"a \\\"quoted\\\" \\$name\"\nbroken line\n EMPTY=\n"))
	want := map[string]string{"ID": "opensuse-leap", "VERSION_ID": "15.6", "NAME": `a "quoted" $name`, "EMPTY": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/dev/my\040disk`: "/dev/my disk", `a\\b`: `a\\b`, `x\04`: `x\04`, "plain": "plain"} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestKernelFirewall runs the real probes: they must answer or fail
// cleanly, whatever this host allows.
func TestKernelFirewall(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	rules, drop, err := kernelFirewall{}.nftInput()
	t.Logf("nftables: %d input rules, drop policy %v, err %v", rules, drop, err)
	if err == nil && rules < 0 {
		t.Fatal("negative rule count")
	}
	if errors.Is(err, fs.ErrPermission) {
		t.Log("not permitted: reported off with a note")
	}
	n, err := kernelFirewall{}.legacyInput(false)
	t.Logf("iptables legacy: %d, %v", n, err)
	rep, err := CollectLinux()
	if err != nil {
		t.Skipf("this host has no os-release: %v", err)
	}
	if err := rep.validate(); err != nil {
		t.Fatalf("CollectLinux made an invalid report: %v", err)
	}
	t.Logf("this host: %+v", rep)
}
