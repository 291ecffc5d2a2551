// Command go-mcp-server is a tiny MCP-like upstream used by the Rust
// integration tests. It decodes JSON-RPC bodies with Go's standard
// encoding/json into structs, exactly like real Go MCP servers, so object
// member names match struct fields case-insensitively (Unicode simple
// folding, e.g. U+017F "ſ" matches "s") and, for repeated members, the last
// match wins. The proxy must never let bodies that Go would read as a
// different tool/method than a case-sensitive first-wins reader reach it.
//
// Verified by hand with go1.19.8 linux/amd64 (Debian golang-1.19-go):
// POST body => entry recorded in GET /calls.
//
//	{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}  => tools/call whoami
//	{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","Name":"admin_tool"}}  => tools/call admin_tool
//	{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"admin_tool"}}  => tools/call admin_tool
//	{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"name":"admin_tool"}}  => tools/call admin_tool
//	{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"Params":{"name":"admin_tool"}}  => tools/call admin_tool
//	{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"paramſ":{"name":"admin_tool"}}  => tools/call admin_tool
//	{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","na\u006de":"x"}}  => tools/call x
//
// ("paramſ" also matches when written as "param\u017f"; a repeated params
// object is merged into the first one; an exact duplicate after unescaping
// is simply overwritten: the last occurrence wins in every case.)
//
// Usage: go-mcp-server -listen 127.0.0.1:0
// Prints "listening on 127.0.0.1:NNNNN" once, then serves until killed.
// POST (any path): JSON-RPC message or batch; 400 on decode error.
// GET /calls: {"calls":["tools/call whoami", ...]} (test-only, direct).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
)

// Params is the subset of MCP request params a typical Go server reads.
type Params struct {
	Name      string         `json:"name"`
	URI       string         `json:"uri"`
	Arguments map[string]any `json:"arguments"`
}

// Message is a JSON-RPC request as decoded by typical Go MCP servers.
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  Params          `json:"params"`
}

var mu sync.Mutex      // guards calls
var calls = []string{} // what the server "ran", in order

// run records what the server "executes" for m and builds its response.
func run(m Message) any {
	entry, text := m.Method, "ran "+m.Method
	if m.Method == "tools/call" {
		entry, text = "tools/call "+m.Params.Name, "ran "+m.Params.Name
	}
	mu.Lock()
	calls = append(calls, entry)
	mu.Unlock()
	content := []map[string]string{{"type": "text", "text": text}}
	return map[string]any{"jsonrpc": "2.0", "id": m.ID,
		"result": map[string]any{"content": content}}
}

func handle(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/calls" {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string][]string{"calls": calls})
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var resp any
	var batch []Message
	body, err := io.ReadAll(r.Body)
	if err == nil && bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")) {
		if err = json.Unmarshal(body, &batch); err == nil {
			out := []any{} // an empty batch answers [] rather than null
			for _, m := range batch {
				out = append(out, run(m))
			}
			resp = out
		}
	} else if err == nil {
		var m Message
		if err = json.Unmarshal(body, &m); err == nil {
			resp = run(m)
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	os.Stdout.Sync() // stdout is unbuffered in Go; Sync is best-effort.
	log.Fatal(http.Serve(ln, http.HandlerFunc(handle)))
}
