// Command gatewaybench holds the parts of scripts/gateway-bench.sh that are
// not ztgate, oauth2-proxy or wrk: the upstream every proxy forwards to, the
// bare httputil.ReverseProxy that is ztgate's floor, an open-loop load
// generator (wrk2 is not in Debian), the SigV4 pre-signer and the sign-in
// helpers that turn a user and password into a session cookie.
//
// It is a module of its own, like bench/ beside it, so that the AWS SDK's
// signer (an implementation independent of ztgate's verifier) never enters
// ztgate's or bench's dependency graph.
//
//	gatewaybench upstream  -addr-file F [-size 1024]
//	gatewaybench proxy     -addr-file F -upstream URL
//	gatewaybench load      -url URL [-host H] [-header 'K: V'] -rate R -duration D [-warmup W] [-conns C]
//	gatewaybench presign   -url URL -host H -credentials FILE -n N -lua FILE
//	gatewaybench ztgate-login    -url URL -host H -credentials FILE
//	gatewaybench oauth2proxy-login -url URL -user U -password P
//	gatewaybench htpasswd  -user U -password P
//	gatewaybench freeport
package main

import (
	"fmt"
	"os"
)

func main() {
	cmds := map[string]func([]string) error{
		"upstream":          upstreamCmd,
		"proxy":             proxyCmd,
		"load":              loadCmd,
		"presign":           presignCmd,
		"ztgate-login":      ztgateLoginCmd,
		"oauth2proxy-login": oauth2ProxyLoginCmd,
		"htpasswd":          htpasswdCmd,
		"freeport":          freePortCmd,
	}
	if len(os.Args) < 2 || cmds[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: gatewaybench upstream|proxy|load|presign|ztgate-login|oauth2proxy-login|htpasswd|freeport [flags]")
		os.Exit(2)
	}
	if err := cmds[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "gatewaybench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
