package workload

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc/status"
)

// childEnv makes the test binary act as a workload in another process
// (with another uid, or one that exits on cue) instead of running tests.
const childEnv = "ZTGATE_WORKLOAD_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "fetch":
		childFetch(os.Getenv("ZTGATE_WORKLOAD_ADDR"))
	case "connect":
		childConnect(os.Getenv("ZTGATE_WORKLOAD_ADDR"))
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode")
		os.Exit(2)
	}
}

// childResult is what a fetching child reports on stdout.
type childResult struct {
	IDs  []string `json:"ids"`
	Code string   `json:"code"`
}

func childFetch(addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res childResult
	svids, err := workloadapi.FetchX509SVIDs(ctx, workloadapi.WithAddr(addr))
	if err != nil {
		res.Code = status.Code(err).String()
	}
	for _, s := range svids {
		res.IDs = append(res.IDs, s.ID.String())
	}
	json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

// childConnect connects, says so, and holds the connection until its
// stdin closes.
func childConnect(path string) {
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	fmt.Println("connected")
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}
