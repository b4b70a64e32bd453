// compose-check loads a Compose file with compose-go (github.com/compose-spec/compose-go/v2), the
// loader `docker compose` itself uses, so that docker-compose.yml is known to load (schema,
// interpolation, merge keys, profiles) where no Docker engine is available. Options as in
// `docker compose`: -f FILE, --env-file FILE, --profile NAME (repeatable); the environment is the
// process's, as for `docker compose`. On success prints the loaded project as JSON (what
// `docker compose config --format json` prints) and exits 0; if the file does not load, prints
// compose-go's error on stderr and exits 1; on bad usage exits 2.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var files, envFiles, profiles list
	flags := flag.NewFlagSet("compose-check", flag.ContinueOnError)
	flags.Var(&files, "f", "compose file (repeatable; required)")
	flags.Var(&envFiles, "env-file", "env file whose variables interpolate the compose file (repeatable)")
	flags.Var(&profiles, "profile", "profile to enable (repeatable)")
	if err := flags.Parse(os.Args[1:]); err != nil || len(files) == 0 || flags.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: compose-check -f FILE [--env-file FILE] [--profile NAME]")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions(files,
		cli.WithOsEnv,
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(profiles...),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
	os.Exit(1)
}
