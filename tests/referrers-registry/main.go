// A registry with the OCI referrers API, for prisn's SBOM tests (tests/it/image_referrers.rs):
// go-containerregistry's pkg/registry, in memory, with its referrers endpoint switched on
// (its own cmd/registry and `crane registry serve` leave it off). Listens on 127.0.0.1
// only, on the port given by -port (0 = pick a free one), and writes the bound
// `127.0.0.1:PORT` to -addr-file once it accepts connections.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: pick a free one)")
	addrFile := flag.String("addr-file", "", "write the bound 127.0.0.1:PORT here once listening")
	flag.Parse()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: *port})
	if err != nil {
		log.Fatalf("referrers-registry: listen on 127.0.0.1:%d: %v", *port, err)
	}
	addr := l.Addr().String()
	if *addrFile != "" {
		// Written beside, then renamed: a reader never sees half an address.
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
			log.Fatalf("referrers-registry: %v", err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			log.Fatalf("referrers-registry: %v", err)
		}
	}
	log.Printf("referrers-registry: serving on %s", addr)
	handler := registry.New(registry.WithReferrersSupport(true))
	log.Fatal(http.Serve(l, handler))
}
