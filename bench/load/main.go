// Command load: N concurrent clients, each doing R requests in turn against a prisn server
// (alternately the workload list and one workload's status), with a token, printing p50/p99
// and errors. bench/remote.sh runs it; a compiled client with real threads, so the figure is
// the server's and not a load generator's (a Python one spent 1.9 ms of CPU per request,
// three times the server's own).
//
//	go run ./bench/load -port 7331 -token sk_… -namespace bench [-clients 50] [-requests 20] [-keepalive]
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	port := flag.Int("port", 7331, "the server's port on 127.0.0.1")
	token := flag.String("token", "", "the bearer token")
	ns := flag.String("namespace", "default", "the namespace")
	clients := flag.Int("clients", 50, "concurrent clients")
	requests := flag.Int("requests", 20, "requests per client")
	status := flag.String("status", "api", "the workload whose status is asked")
	keepalive := flag.Bool("keepalive", false, "each client keeps its connection (default: a new TLS connection per request)")
	flag.Parse()

	var mu sync.Mutex
	var lat []time.Duration
	errors := 0
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The server's certificate is pinned by prisn's client; this tool measures, so it
			// does not verify (loopback only).
			tr := &http.Transport{
				TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
				DisableKeepAlives: !*keepalive,
			}
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for i := 0; i < *requests; i++ {
				path := "/v1/workloads/" + *status
				if i%2 == 1 {
					path = "/v1/workloads"
				}
				req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d%s", *port, path), nil)
				req.Header.Set("Authorization", "Bearer "+*token)
				req.Header.Set("prisn-namespace", *ns)
				t := time.Now()
				resp, err := client.Do(req)
				ok := err == nil
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = err == nil && resp.StatusCode == 200
				}
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				if !ok {
					errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	q := func(p float64) float64 {
		i := int(p * float64(len(lat)))
		if i >= len(lat) {
			i = len(lat) - 1
		}
		return float64(lat[i].Microseconds()) / 1000
	}
	fmt.Printf("%d requests in %.2f s, p50 %.1f ms, p99 %.1f ms, %d errors\n", len(lat), wall.Seconds(), q(0.5), q(0.99), errors)
	if errors > 0 {
		os.Exit(1)
	}
}
