package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ztgate/ztgate/internal/audit"
)

func TestEntryValidation(t *testing.T) {
	e := newEnv(t)
	e.token("web1") // a pending token makes web1 a valid parent
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"other trust domain", []string{"--spiffe-id", "spiffe://evil.org/x", "--selector", "unix:uid:1"}, "not in the trust domain"},
		{"agent path", []string{"--spiffe-id", "spiffe://example.org/ztgate/agent/web2", "--selector", "unix:uid:1"}, "reserved"},
		{"ztgate itself", []string{"--spiffe-id", "spiffe://example.org/ztgate", "--selector", "unix:uid:1"}, "reserved"},
		{"device path", []string{"--spiffe-id", "spiffe://example.org/device/laptop", "--selector", "unix:uid:1"}, "reserved"},
		{"trust domain id", []string{"--spiffe-id", "spiffe://example.org", "--selector", "unix:uid:1"}, "names the trust domain"},
		{"not an id", []string{"--spiffe-id", "https://example.org/x", "--selector", "unix:uid:1"}, "scheme"},
		{"bad selector", []string{"--spiffe-id", "spiffe://example.org/x", "--selector", "unix:uid:01"}, "leading zeros"},
		{"foreign selector", []string{"--spiffe-id", "spiffe://example.org/x", "--selector", "k8s:ns:default"}, "unix:KIND:VALUE"},
		{"twice the same selector", []string{"--spiffe-id", "spiffe://example.org/x", "--selector", "unix:uid:1", "--selector", "unix:uid:1"}, "twice"},
		{"ttl over the maximum", []string{"--spiffe-id", "spiffe://example.org/x", "--selector", "unix:uid:1", "--ttl", "25h"}, "maximum"},
		{"ttl not whole seconds", []string{"--spiffe-id", "spiffe://example.org/x", "--selector", "unix:uid:1", "--ttl", "1500ms"}, "whole seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.admin(append([]string{"entry", "create", "--parent", "web1"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	if _, err := e.admin("entry", "create", "--parent", "ghost", "--spiffe-id", "spiffe://example.org/x", "--selector", "unix:uid:1"); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("unknown parent: %v", err)
	}
	if _, err := e.admin("entry", "create", "--parent", "web1", "--spiffe-id", "spiffe://example.org/x"); err == nil || !strings.Contains(err.Error(), "selector") {
		t.Fatalf("no selector: %v", err)
	}
	id := e.entry("web1", "spiffe://example.org/x", "--selector", "unix:uid:1", "--selector", "unix:path:/usr/bin/x", "--ttl", "10m")
	if _, err := e.admin("entry", "create", "--parent", "web1", "--spiffe-id", "spiffe://example.org/x", "--selector", "unix:path:/usr/bin/x", "--selector", "unix:uid:1"); err == nil || !strings.Contains(err.Error(), id) {
		t.Fatalf("duplicate entry: %v", err)
	}
	if n := len(e.records(audit.CategoryAdmin, "CreateWorkloadEntry")); n != 14 {
		t.Errorf("%d entry creations audited, want 14 (the flag check is local)", n)
	}

	out := e.mustAdmin("entry", "list")
	for _, want := range []string{id, "web1", "spiffe://example.org/x", "10m0s", "unix:uid:1 unix:path:/usr/bin/x"} {
		if !strings.Contains(out, want) {
			t.Errorf("entry list lacks %q:\n%s", want, out)
		}
	}
	var list []EntryJSON
	if err := json.Unmarshal([]byte(e.mustAdmin("entry", "list", "--json", "--parent", "web1")), &list); err != nil || len(list) != 1 || list[0].TTL != "10m0s" {
		t.Fatalf("entry list --json: %v %+v", err, list)
	}
	if out := e.mustAdmin("entry", "list", "--parent", "other"); strings.Contains(out, id) {
		t.Fatalf("entries of another parent:\n%s", out)
	}
	if out := e.mustAdmin("entry", "delete", "--id", id); !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %s", out)
	}
	if _, err := e.admin("entry", "delete", id); err == nil || !strings.Contains(err.Error(), "no registration entry") {
		t.Fatalf("delete again: %v", err)
	}
	if recs := e.records(audit.CategoryAdmin, "DeleteWorkloadEntry"); len(recs) != 2 || recs[1].ErrorCode == "" {
		t.Fatalf("deletions audited: %+v", recs)
	}
}

// An entry record written by hand that does not check grants nothing.
func TestHandWrittenEntryIgnored(t *testing.T) {
	e := newEnv(t)
	a1 := e.agentClient("a1")
	bad := `{"id":"bad","spiffe_id":"spiffe://example.org/ztgate/agent/root","parent":"a1","selectors":["unix:uid:0"]}`
	if _, err := putRaw(e, KindEntry, "a1/bad", bad); err != nil {
		t.Fatal(err)
	}
	var got EntriesResponse
	st, body := a1.call("GET", EndpointEntries, nil)
	if st != 200 || json.Unmarshal(body, &got) != nil || len(got.Entries) != 0 {
		t.Fatalf("entries: %d %s", st, body)
	}
	st, body = a1.call("POST", EndpointSVID, SVIDRequest{EntryID: "bad", CSRPEM: csrPEM(t, newP256(t), nil)})
	wantRefusal(t, st, body, 404, CodeEntryUnknown)
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"web1": true, "a": true, "a.b-c_d": true, strings.Repeat("a", 63): true,
		"": false, "Web": false, "a/b": false, ".": false, "..": false, strings.Repeat("a", 64): false,
		"a b": false, "é": false,
	} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v", name, err)
		}
	}
}
