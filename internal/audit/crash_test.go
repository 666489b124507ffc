package audit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ztgate/ztgate/internal/secret"
)

// crashEnv, when set to an audit directory, makes TestCrashHelper the
// process that TestCrashKill9 kills.
const crashEnv = "ZTGATE_AUDIT_CRASH_DIR"

const crashNode = "crash"

// TestCrashHelper appends from many goroutines until it is killed, and
// prints each record's eventID on stdout once Append has returned: the
// accesses it acknowledged.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("the process TestCrashKill9 kills")
	}
	kek, err := secret.LoadKEK("") // from ZTGATE_KEK
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	w, err := Open(Options{Dir: dir, Node: crashNode, KEK: kek, SegmentSize: 256 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	go func() {
		for {
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			out.Flush()
			mu.Unlock()
		}
	}()
	for g := range 64 {
		go func() {
			for i := 0; ; i++ {
				r := decisionRecord(g*1_000_000 + i)
				if err := w.Append(context.Background(), r); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				out.WriteString(r.EventID + "\n")
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestCrashKill9 kills a process with SIGKILL while it appends from many
// goroutines, three times over one log, and checks that the log verifies
// after each crash and after recovery, and that every record whose Append
// had returned is in it.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	dir := t.TempDir()
	kek := testKEK(t)
	kekText, err := secret.EncodeKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, secret.EnvKEK+"="+string(bytes.TrimSpace(kekText)))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		n := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if id := sc.Text(); len(id) == 36 {
					mu.Lock()
					acked[id] = true
					n++
					mu.Unlock()
				}
			}
		}()
		// Kill it under load, at a moment that varies with the round.
		want := 5000 + 3000*round
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			got := n
			mu.Unlock()
			if got >= want {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("round %d: only %d records acknowledged; helper said: %s", round, got, stderr.String())
			}
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		<-done
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the helper was not killed: %v; it said: %s", round, cmd.ProcessState, stderr.String())
		}

		// As the crash left it, the log verifies; a torn tail is a warning.
		rep := verifyDir(t, dir)
		for _, f := range rep.Findings {
			t.Logf("round %d, after the crash: %s", round, f)
		}
		if !rep.OK(false) {
			t.Fatalf("round %d: the log does not verify after the crash", round)
		}
		t.Logf("round %d: killed after %d acknowledged records, %d in the log", round, n, rep.Records)
	}

	// Recovery closes what the last crash left open.
	w, err := Open(Options{Dir: dir, Node: crashNode, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verifyDir(t, dir)
	torn := 0
	for _, f := range rep.Findings {
		t.Log(f)
		if f.Kind == Torn {
			torn++
		}
	}
	if !rep.OK(false) {
		t.Fatal("the log does not verify after recovery")
	}
	ids := eventIDs(t, dir, crashNode)
	missing := 0
	for id := range acked {
		if !ids[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged records are missing from the log", missing, len(acked))
	}
	_, digs := nodeFiles(t, dir, crashNode)
	t.Logf("%d acknowledged, %d in the log, %d digests, %d torn tails", len(acked), len(ids), len(digs), torn)
}
