// Command gosendfile is the ceiling the large-download benchmark measures
// Caddy against: Go's own net/http file server, whose responses reach the
// socket with sendfile(2), with nothing else in the way. It exists for
// integration/large_bench_test.go.
//
//	gosendfile -listen 127.0.0.1:9001 -root /srv/files
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to listen on")
	root := flag.String("root", ".", "directory to serve")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, http.FileServer(http.Dir(*root))))
}
