// promql-check validates the Prometheus files in deploy/ with Prometheus's own code, without a
// running Prometheus:
//
//	promql-check                 reads a JSON array of PromQL expressions on stdin (the alert rules'
//	                             and the dashboard's queries) and parses each (promql/parser);
//	promql-check -rules FILE     checks a rule file as `promtool check rules` does (model/rulefmt:
//	                             YAML fields, PromQL, durations, label and annotation templates);
//	promql-check -config FILE    loads a server configuration as `promtool check config` does
//	                             (config.LoadFile: scrape configs, targets, rule_files).
//
// Prints one line per problem and exits 1 if there is any; exits 2 on bad usage.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	rules := flag.String("rules", "", "rule file to check")
	configFile := flag.String("config", "", "Prometheus configuration file to check")
	flag.Parse()
	switch {
	case *rules != "":
		if _, errs := rulefmt.ParseFile(*rules, false); len(errs) > 0 {
			for _, err := range errs {
				fmt.Println(err)
			}
			os.Exit(1)
		}
	case *configFile != "":
		if _, err := config.LoadFile(*configFile, false, promslog.NewNopLogger()); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	default:
		checkExpressions()
	}
}

func checkExpressions() {
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
