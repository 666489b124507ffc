package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// headerList collects repeated -header flags.
type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

// loadCmd sends requests at a fixed rate, whatever the answers' pace
// (open loop, as wrk2 does), and reports latency from each request's
// intended start, so that a stall is counted against every request it
// delays rather than hidden by a client that waits (coordinated omission).
//
// Pacing uses nanosleep on a locked thread: Go's timers wake about 1 ms
// late on this kind of machine, which would add a millisecond of the
// generator's own to every figure. What the dispatcher still adds is
// reported as lag (handed to the connections minus intended start); the
// wait for a free connection is not in it, since it is the server's doing
// when every connection awaits an answer. rps counts the answers read
// within the measured time.
func loadCmd(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	target := fs.String("url", "", "URL to GET (http only)")
	host := fs.String("host", "", "Host header (default: the URL's host)")
	rate := fs.Float64("rate", 1000, "requests per second")
	duration := fs.Duration("duration", 10*time.Second, "measured time")
	warmup := fs.Duration("warmup", 2*time.Second, "time at the same rate before measuring")
	conns := fs.Int("conns", 64, "connections (the most requests in flight)")
	grace := fs.Duration("grace", 5*time.Second, "how long past its time a backlog is still sent")
	wantStatus := fs.Int("status", 200, "expected status")
	wantSize := fs.Int64("size", 1024, "expected body size; -1: any")
	series := fs.Bool("series", false, "also print, to stderr, each second's p50 and p99 (by intended start)")
	var headers headerList
	fs.Var(&headers, "header", "extra request header 'Name: value' (repeatable)")
	fs.Parse(args)

	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-url: want http://HOST:PORT/PATH, got %q", *target)
	}
	if *rate <= 0 || *conns <= 0 {
		return errors.New("-rate and -conns must be positive")
	}
	h := *host
	if h == "" {
		h = u.Host
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatewaybench\r\n", u.RequestURI(), h)
	for _, hd := range headers {
		fmt.Fprintf(&b, "%s\r\n", hd)
	}
	b.WriteString("\r\n")
	req := []byte(b.String())

	n := int((*warmup + *duration).Seconds() * *rate)
	res := make([]result, n)
	jobs := make(chan int, n)
	start := time.Now()
	// A server slower than the rate builds a backlog; the run still ends
	// soon after its time, with what is left counted as failed.
	deadline := *warmup + *duration + *grace
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{addr: u.Host, req: req, status: *wantStatus, size: *wantSize}
			defer c.close()
			for i := range jobs {
				r := &res[i]
				if r.sent = time.Since(start); r.sent > deadline {
					r.err = errNotSent
					continue
				}
				r.err = c.do()
				r.done = time.Since(start)
			}
		}()
	}

	// The dispatcher never blocks on a busy client: jobs holds every
	// request, and one waiting there is late by the server's doing.
	runtime.LockOSThread()
	interval := float64(time.Second) / *rate
	for i := range n {
		res[i].intended = time.Duration(float64(i) * interval)
		if d := res[i].intended - time.Since(start); d > 0 {
			ts := syscall.NsecToTimespec(int64(d))
			for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
			}
		}
		res[i].queued = time.Since(start)
		jobs <- i
	}
	close(jobs)
	runtime.UnlockOSThread()
	wg.Wait()

	var lat, lag []time.Duration
	var ok, failed, inWindow int
	var firstErr error
	end := *warmup + *duration
	for i := range res {
		r := &res[i]
		if r.err == nil && r.done >= *warmup && r.done < end {
			inWindow++
		}
		if r.intended < *warmup {
			continue
		}
		if r.err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		ok++
		lat = append(lat, r.done-r.intended)
		lag = append(lag, r.queued-r.intended)
	}
	if *series {
		printSeries(res)
	}
	slices.Sort(lat)
	slices.Sort(lag)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
	fmt.Printf("rate=%.0f requests=%d ok=%d errors=%d rps=%.0f p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s lag_p50_ms=%s lag_p99_ms=%s\n",
		*rate, ok+failed, ok, failed, float64(inWindow)/duration.Seconds(),
		ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(pct(lat, 99.9)), ms(pct(lat, 100)),
		ms(pct(lag, 50)), ms(pct(lag, 99)))
	if firstErr != nil {
		return fmt.Errorf("%d requests failed; the first: %w", failed, firstErr)
	}
	return nil
}

var errNotSent = errors.New("not sent: the backlog outlasted the run")

type result struct {
	// Since the start: when the request was due, when the dispatcher
	// handed it to the connections, when one sent it and when its answer
	// had been read.
	intended, queued, sent, done time.Duration
	err                          error
}

// printSeries prints each second's latency percentiles, by intended
// start: a stall of the server shows as the seconds it spans.
func printSeries(res []result) {
	var sec []time.Duration
	cur := time.Duration(-1)
	flush := func() {
		if len(sec) > 0 {
			slices.Sort(sec)
			fmt.Fprintf(os.Stderr, "second=%d requests=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", cur/time.Second, len(sec),
				float64(pct(sec, 50))/1e6, float64(pct(sec, 99))/1e6, float64(pct(sec, 100))/1e6)
		}
		sec = sec[:0]
	}
	for i := range res {
		r := &res[i]
		if s := r.intended.Truncate(time.Second); s != cur {
			flush()
			cur = s
		}
		if r.err == nil {
			sec = append(sec, r.done-r.intended)
		}
	}
	flush()
}

// pct is the p-th percentile of sorted d, nearest rank.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p/100+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// client is one keep-alive HTTP/1.1 connection: cheaper per request than
// net/http's client, whose goroutine hand-offs would take CPU from the
// servers on a machine this small.
type client struct {
	addr   string
	req    []byte
	status int
	size   int64
	conn   net.Conn
	br     *bufio.Reader
}

func (c *client) do() error {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(c.req); err != nil {
		c.close()
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return err
	}
	got, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	switch {
	case err != nil:
		return err
	case resp.StatusCode != c.status:
		return fmt.Errorf("status %d, want %d", resp.StatusCode, c.status)
	case c.size >= 0 && got != c.size:
		return fmt.Errorf("body of %d bytes, want %d", got, c.size)
	}
	return nil
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}
