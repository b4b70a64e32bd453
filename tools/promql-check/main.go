// promql-check parses PromQL expressions with Prometheus's own parser (promql/parser), so that the
// alert rules and the dashboard queries in deploy/ are known to be valid PromQL without a running
// Prometheus. Reads a JSON array of expressions on stdin; prints one line per expression that does
// not parse and exits 1 if any does not.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintf(os.Stderr, "promql-check: stdin must be a JSON array of strings: %v\n", err)
		os.Exit(2)
	}
	bad := 0
	for _, e := range exprs {
		if _, err := parser.ParseExpr(e); err != nil {
			fmt.Printf("%q: %v\n", e, err)
			bad++
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}
