package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/audit"
)

// benchRecords is the size of the query benchmark's index: 1,000,000 by
// default, ZTGATE_BENCH_AUDIT_RECORDS to change it (10,000,000 for the
// figure in BENCHMARKS.md; building that index takes minutes).
func benchRecords() int {
	if n, err := strconv.Atoi(os.Getenv("ZTGATE_BENCH_AUDIT_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkQueryPrincipal: a principal's last 100 records among millions
// (10,000 principals, records a second apart).
func BenchmarkQueryPrincipal(b *testing.B) {
	n := benchRecords()
	x, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	rec := []byte(`{"eventVersion":"1.09","eventSource":"gateway.ztgate","eventName":"GET"}`)
	start := time.Now()
	rows := make([]Row, 0, batchSize)
	for i := 0; i < n; i++ {
		rows = append(rows, Row{Node: "n1", Seq: uint64(i + 1), Time: base.Add(time.Duration(i) * time.Second),
			Principal: fmt.Sprintf("arn:zt:iam::111122223333:user/u%d", i%10000), Action: "http:GET",
			Resource: "arn:zt:gateway::111122223333:route/app/x", Decision: "allowed", SourceIP: "10.0.0.1",
			EventID: strconv.Itoa(i), Record: rec})
		if len(rows) == batchSize {
			if err := x.Add(ctx, rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if err := x.Add(ctx, rows); err != nil {
		b.Fatal(err)
	}
	b.Logf("indexed %d records in %v (%.0f records/s)", n, time.Since(start), float64(n)/time.Since(start).Seconds())
	f := Filter{Principal: "arn:zt:iam::111122223333:user/u4242", Limit: 100}
	b.ResetTimer()
	for b.Loop() {
		got, err := x.Query(ctx, f)
		if err != nil || len(got) != min(100, n/10000) {
			b.Fatalf("%d rows, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(n), "records")
}

// updateRecords is the size of the update benchmark's log: 20,000 by
// default, ZTGATE_BENCH_AUDIT_UPDATE_RECORDS to change it.
func updateRecords() int {
	if n, err := strconv.Atoi(os.Getenv("ZTGATE_BENCH_AUDIT_UPDATE_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 20_000
}

// gatewayRecord is a gateway decision as a busy node writes them, about
// 1.7 KB: a role session through SigV4 or a person through OIDC, one of
// 300 principals, from one of 1,000 addresses and 300 devices, to one of
// 24 routes; one in six denied.
func gatewayRecord(i int) *audit.Record {
	p := i % 300
	routes := []string{"api", "billing", "admin", "grafana", "wiki", "ci"}
	route := routes[i%len(routes)]
	method := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}[i%6]
	decision := audit.Allowed
	switch i % 12 {
	case 5:
		decision = audit.ImplicitDeny
	case 11:
		decision = audit.ExplicitDeny
	}
	id := audit.UserIdentity{
		Type:        "AssumedRole",
		PrincipalID: fmt.Sprintf("AROA3XFRBF23EXAMPLE%03d:session-%d", p, p),
		ARN:         fmt.Sprintf("arn:zt:sts::123456789012:assumed-role/team-%d/session-%d", p%40, p),
		AccountID:   "123456789012",
		AccessKeyID: fmt.Sprintf("ASIA3XFRBF23EXAMP%03d", p),
		SessionContext: &audit.SessionContext{
			SessionIssuer: &audit.SessionIssuer{Type: "Role", PrincipalID: fmt.Sprintf("AROA3XFRBF23EXAMPLE%03d", p),
				ARN: fmt.Sprintf("arn:zt:iam::123456789012:role/team-%d", p%40), AccountID: "123456789012", UserName: fmt.Sprintf("team-%d", p%40)},
			Attributes: audit.SessionAttribute{CreationDate: base.Add(-time.Hour), MFAAuthenticated: p%2 == 0},
		},
	}
	auth := "sigv4"
	if p%3 == 0 {
		auth = "oidc"
		id = audit.UserIdentity{Type: "FederatedUser", PrincipalID: fmt.Sprintf("user-%d", p),
			ARN: fmt.Sprintf("arn:zt:iam::123456789012:user/person-%d@example.com", p), AccountID: "123456789012", UserName: fmt.Sprintf("person-%d@example.com", p)}
	}
	matched := []audit.Statement{
		{Policy: fmt.Sprintf("arn:zt:iam::123456789012:policy/team-%d-%s-access", p%40, route), Sid: "AllowRouteReadWrite", Index: 0, Effect: "Allow"},
		{Policy: "arn:zt:iam::123456789012:policy/baseline-device-posture", Sid: "RequireManagedDevice", Index: 2, Effect: "Allow"},
	}
	if decision == audit.ExplicitDeny {
		matched = append(matched, audit.Statement{Policy: "arn:zt:iam::123456789012:policy/deny-admin-outside-hours", Sid: "DenyAdminOutsideHours", Index: 1, Effect: "Deny"})
	}
	return audit.DecisionEvent{
		Actor: audit.Actor{
			Identity:   id,
			SourceIP:   fmt.Sprintf("10.%d.%d.%d", i*7919%1000/250, i*7919%250, 10+i*7919%1000%7),
			UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			TLS:        &audit.TLSDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ClientProvidedHostHeader: route + ".corp.example.com"},
			AuthMethod: auth,
			Device:     &audit.Device{ID: fmt.Sprintf("dev-%04x-%d", p*2654435761%65536, p), Managed: true, Compliant: i%17 != 0, Platform: "linux"},
			Risk:       &audit.Risk{Score: i % 40, Level: "low"},
			Region:     "eu-west-1",
		},
		Source:    audit.SourceGateway,
		Name:      method,
		RequestID: fmt.Sprintf("01JD%022d", i),
		Action:    "http:" + method,
		Resources: []audit.Resource{{ARN: fmt.Sprintf("arn:zt:gateway::123456789012:route/%s/%d", route, i%4),
			AccountID: "123456789012", Type: "ZTGate::Gateway::Route"}},
		Route:      route,
		Decision:   decision,
		Matched:    matched,
		ReadOnly:   method == "GET",
		Parameters: map[string]any{"host": route + ".corp.example.com", "path": fmt.Sprintf("/v1/%s/items/%d/history?page=%d&sort=desc", route, i%5000, i%9)},
	}.Record()
}

// writeGatewayLog writes n gateway records for one node through the real
// writer, a millisecond apart, and returns the audit directory.
func writeGatewayLog(t testing.TB, n int) string {
	t.Helper()
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "audit")
	w, err := audit.Open(audit.Options{Dir: dir, Node: "node-1", KEK: kekFor(dataDir), Mode: audit.Async})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := gatewayRecord(i)
		r.EventTime = base.Add(time.Duration(i) * time.Millisecond)
		if err := w.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// BenchmarkUpdate measures indexing: each iteration indexes the whole
// log of gateway records into a fresh index, open to close (closing
// checkpoints the WAL, so that work put off until then is counted).
func BenchmarkUpdate(b *testing.B) {
	n := updateRecords()
	dir := writeGatewayLog(b, n)
	segs, _ := filepath.Glob(filepath.Join(dir, "node-1", "segments", "*.jsonl"))
	var size int64
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil {
			size += fi.Size()
		}
	}
	b.Logf("log: %d records, %d bytes a line", n, size/int64(n))
	ctx := context.Background()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(filepath.Join(dir, FileName+suffix)); err != nil && !os.IsNotExist(err) {
				b.Fatal(err)
			}
		}
		c0 := cpuTime()
		b.StartTimer()
		x, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		got, err := x.Update(ctx, nil)
		if err != nil || got != int64(n) {
			b.Fatalf("indexed %d of %d: %v", got, n, err)
		}
		if err := x.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - c0
		b.StartTimer()
	}
	records := float64(b.N) * float64(n)
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/records, "µs/record")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/records, "cpu-µs/record")
	}
}

// BenchmarkQueryLog: a principal's last 50 records in an index that
// Update filled from a log of gateway records (updateRecords of them, one
// principal in 300), so that the records are read back from the segments,
// where BenchmarkQueryPrincipal's are in the index.
func BenchmarkQueryLog(b *testing.B) {
	dir := writeGatewayLog(b, updateRecords())
	x, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	if _, err := x.Update(ctx, nil); err != nil {
		b.Fatal(err)
	}
	f := Filter{Principal: gatewayRecord(43).UserIdentity.ARN, Limit: 50}
	for b.Loop() {
		got, err := x.Query(ctx, f)
		if err != nil || len(got) != 50 || got[0].Record == nil {
			b.Fatalf("%d rows, %v", len(got), err)
		}
	}
}
