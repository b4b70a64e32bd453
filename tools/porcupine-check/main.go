// porcupine-check: is a Forge Mailbox history linearizable? Reads the JSONL history (a path, or
// "-" for stdin), checks each user's mailbox on its own against the queue model (model.go) with
// Porcupine, and prints a JSON verdict on stdout. Users are checked concurrently, one per CPU:
// a history's time limit is then about that of its hardest users, not the sum of theirs.
//
// Exit status: 0 linearizable, 1 a violation was found, 2 no violation found but some user timed
// out, 3 unusable input or arguments.

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

type userVerdict struct {
	// ok | illegal | unknown (timed out)
	Result string `json:"result"`
	Ops    int    `json:"ops"`
	// Ops handed to Porcupine once failed ops and indeterminate reads are dropped.
	CheckedOps int    `json:"checkedOps"`
	Reason     string `json:"reason,omitempty"`
	// For illegal users: history op ids that are in no linearizable prefix Porcupine found,
	// earliest call first: the first is the op to look at.
	StuckOps      []int64 `json:"stuckOps,omitempty"`
	Visualization string  `json:"visualization,omitempty"`
	ElapsedMs     int64   `json:"elapsedMs"`
}

type verdict struct {
	Linearizable bool                   `json:"linearizable"`
	TimedOut     bool                   `json:"timedOut"`
	Users        int                    `json:"users"`
	PerUser      map[string]userVerdict `json:"perUser"`
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func main() {
	timeout := flag.Duration("timeout", 60*time.Second, "time limit per user (0: none)")
	visualize := flag.String("visualize", "", "directory for an HTML visualization of each violating user")
	maxLine := flag.Int("max-line-bytes", 16*1024, "longest accepted history line")
	maxDeliveries := flag.Int64("max-deliveries", 5, "deliveries after which a returned message is dead-lettered (the mailbox's maxDeliveries)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: porcupine-check [flags] HISTORY.jsonl|-\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *maxLine < 1 || *maxDeliveries < 1 || *maxDeliveries > 1_000_000 {
		flag.Usage()
		os.Exit(3)
	}

	var in io.Reader = os.Stdin
	if name := flag.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		in = f
	}
	users, byUser, err := readOps(in, *maxLine)
	if err != nil {
		fail(err)
	}
	if *visualize != "" {
		if err := os.MkdirAll(*visualize, 0o755); err != nil {
			fail(err)
		}
	}

	v := verdict{Linearizable: true, PerUser: make(map[string]userVerdict, len(users)), Users: len(users)}
	sort.Strings(users)
	checked := checkUsers(users, byUser, int32(*maxDeliveries), *timeout)
	for i, user := range users {
		uv, model, info := checked[i].verdict, checked[i].model, checked[i].info
		if info != nil && *visualize != "" {
			path := filepath.Join(*visualize, fmt.Sprintf("user-%d-%s.html", i, unsafeFileChars.ReplaceAllString(user, "_")))
			if err := porcupine.VisualizePath(model, *info, path); err != nil {
				fmt.Fprintf(os.Stderr, "porcupine-check: visualization of %s: %v\n", user, err)
			} else {
				uv.Visualization = path
			}
		}
		switch uv.Result {
		case "illegal":
			v.Linearizable = false
		case "unknown":
			v.Linearizable = false
			v.TimedOut = true
		}
		v.PerUser[user] = uv
	}

	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(v); err != nil {
		fail(err)
	}
	switch {
	case v.Linearizable:
		os.Exit(0)
	case v.TimedOut && !anyIllegal(v):
		os.Exit(2)
	default:
		os.Exit(1)
	}
}

type checkedUser struct {
	verdict userVerdict
	model   porcupine.Model
	info    *porcupine.LinearizationInfo
}

// checkUsers checks every user, runtime.NumCPU() at a time, and returns their results in the
// order of users. Each user keeps its own time limit.
func checkUsers(users []string, byUser map[string][]record, maxDeliveries int32, timeout time.Duration) []checkedUser {
	out := make([]checkedUser, len(users))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				uv, model, info := checkUser(byUser[users[i]], maxDeliveries, timeout)
				out[i] = checkedUser{uv, model, info}
			}
		}()
	}
	for i := range users {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func anyIllegal(v verdict) bool {
	for _, uv := range v.PerUser {
		if uv.Result == "illegal" {
			return true
		}
	}
	return false
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "porcupine-check: %v\n", err)
	os.Exit(3)
}

func operations(recs []record) ([]porcupine.Operation, partitionSize) {
	ops, size := toOperations(recs)
	out := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		out[i] = porcupine.Operation{
			ClientId: op.process,
			Input:    op.input,
			Call:     op.call,
			Output:   op.output,
			Return:   op.ret,
			Metadata: op.id,
		}
	}
	return out, size
}

// checkUser also returns the user's model and, for a violation, the partial linearizations that
// explain it.
func checkUser(recs []record, maxDeliveries int32, timeout time.Duration) (userVerdict, porcupine.Model, *porcupine.LinearizationInfo) {
	start := time.Now()
	uv := userVerdict{Ops: len(recs)}
	ops, size := operations(recs)
	model := mailboxModel(size, maxDeliveries)
	uv.CheckedOps = len(ops)
	// The plain check is much cheaper; the verbose one (partial linearizations) only runs to
	// explain a violation.
	var info *porcupine.LinearizationInfo
	switch porcupine.CheckOperationsTimeout(model, ops, timeout) {
	case porcupine.Ok:
		uv.Result = "ok"
	case porcupine.Unknown:
		uv.Result = "unknown"
		uv.Reason = fmt.Sprintf("no answer within %v", timeout)
	default:
		uv.Result = "illegal"
		_, verbose := porcupine.CheckOperationsVerbose(model, ops, timeout)
		info = &verbose
		uv.StuckOps = stuckOps(ops, verbose)
	}
	uv.ElapsedMs = time.Since(start).Milliseconds()
	return uv, model, info
}

// stuckOps lists the ops that appear in no partial linearization, earliest call first (the first
// is where every attempted order got stuck), at most 20, by history op id.
func stuckOps(ops []porcupine.Operation, info porcupine.LinearizationInfo) []int64 {
	placed := make(map[int64]bool)
	for _, partition := range info.PartialLinearizationsOperations() {
		for _, seq := range partition {
			for _, op := range seq {
				placed[op.Metadata.(int64)] = true
			}
		}
	}
	var stuck []porcupine.Operation
	for _, op := range ops {
		if !placed[op.Metadata.(int64)] {
			stuck = append(stuck, op)
		}
	}
	sort.SliceStable(stuck, func(i, j int) bool { return stuck[i].Call < stuck[j].Call })
	ids := make([]int64, 0, 20)
	for _, op := range stuck {
		if len(ids) == 20 {
			break
		}
		ids = append(ids, op.Metadata.(int64))
	}
	return ids
}
