// porcupine-check: is a Forge Mailbox history linearizable? Reads the JSONL history (a path, or
// "-" for stdin), checks each user's mailbox on its own against the queue model (model.go) with
// Porcupine, and prints a JSON verdict on stdout. Users are checked concurrently, one per CPU:
// a history's time limit is then about that of its hardest users, not the sum of theirs.
//
// Porcupine's search caches every state it reaches, and on a hard history that cache grows by
// gigabytes a minute (1.4 GB in 30 s on one user here). Two limits keep a hard history from taking
// the machine down with it: -max-memory (heap, whole process) and -deadline (wall time, whole
// run). Either ends the run with the users already decided and every other user "unknown".
//
// Exit status: 0 linearizable, 1 a violation was found, 2 no violation found but some user timed
// out or was cut off by a limit, 3 unusable input or arguments.

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

type userVerdict struct {
	// ok | illegal | unknown (timed out)
	Result string `json:"result"`
	Ops    int    `json:"ops"`
	// Operations handed to Porcupine: failed ops and indeterminate reads dropped, each batch
	// call's ops joined into one.
	CheckedOps int `json:"checkedOps"`
	// Of those, the ones the client got no answer to, and those no later op bounds (they may take
	// effect at any point after their call): what makes a user's search hard.
	Indeterminate int    `json:"indeterminate"`
	Unbounded     int    `json:"unbounded"`
	Reason        string `json:"reason,omitempty"`
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
	maxMemory := flag.Int64("max-memory", 4<<30, "heap bytes after which the users not yet decided are given up as unknown (0: none)")
	deadline := flag.Duration("deadline", 0, "wall time for the whole run, after which the users not yet decided are given up as unknown (0: none)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: porcupine-check [flags] HISTORY.jsonl|-\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *maxLine < 1 || *maxDeliveries < 1 || *maxDeliveries > 1_000_000 || *maxMemory < 0 || *deadline < 0 {
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

	sort.Strings(users)
	run := newRun(users, byUser)
	go run.watch(*maxMemory, *deadline)
	run.checkUsers(int32(*maxDeliveries), *timeout)
	run.finish("", *visualize)
}

// run holds the users' results as they are decided, so that a limit can end the run with them.
type run struct {
	users []string
	input []userOps // per user
	start time.Time
	mu    sync.Mutex
	out   []checkedUser
	done  []bool
	ended bool
}

// userOps: one user's history as Porcupine operations (toOperations), and what it was made from.
type userOps struct {
	records int
	ops     []porcupineOp
	size    partitionSize
}

// newRun converts every user's records up front: a history the checker cannot interpret is
// refused before any search starts.
func newRun(users []string, byUser map[string][]record) *run {
	input := make([]userOps, len(users))
	for i, u := range users {
		ops, size, err := toOperations(byUser[u])
		if err != nil {
			fail(err)
		}
		input[i] = userOps{records: len(byUser[u]), ops: ops, size: size}
	}
	return &run{users: users, input: input, start: time.Now(), out: make([]checkedUser, len(users)), done: make([]bool, len(users))}
}

// verdictBase: a user's verdict before its result, with the counts that say how hard its search is.
func (u userOps) verdictBase() userVerdict {
	uv := userVerdict{Ops: u.records, CheckedOps: len(u.ops)}
	for _, op := range u.ops {
		if op.indeterminate {
			uv.Indeterminate++
			if op.ret == math.MaxInt64 {
				uv.Unbounded++
			}
		}
	}
	return uv
}

// watch ends the run once the heap holds more than maxMemory bytes or the deadline has passed.
func (r *run) watch(maxMemory int64, deadline time.Duration) {
	if maxMemory == 0 && deadline == 0 {
		return
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for range time.Tick(100 * time.Millisecond) {
		if deadline > 0 && time.Since(r.start) >= deadline {
			r.finish(fmt.Sprintf("not decided within the whole check's deadline of %v", deadline), "")
		}
		metrics.Read(sample)
		if heap := int64(sample[0].Value.Uint64()); maxMemory > 0 && heap > maxMemory {
			r.finish(fmt.Sprintf("not decided before the checker's heap reached %d MiB (limit %d MiB)", heap>>20, maxMemory>>20), "")
		}
	}
}

// finish prints the verdict and exits; users not decided yet are unknown for `cutOff`. Only the
// first call does anything (the other caller blocks until the process exits).
func (r *run) finish(cutOff string, visualize string) {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		select {}
	}
	r.ended = true
	v := verdict{Linearizable: true, PerUser: make(map[string]userVerdict, len(r.users)), Users: len(r.users)}
	for i, user := range r.users {
		if !r.done[i] {
			uv := r.input[i].verdictBase()
			uv.Result, uv.Reason, uv.ElapsedMs = "unknown", cutOff, time.Since(r.start).Milliseconds()
			v.PerUser[user] = uv
			v.Linearizable = false
			v.TimedOut = true
			continue
		}
		uv, model, info := r.out[i].verdict, r.out[i].model, r.out[i].info
		if info != nil && visualize != "" {
			path := filepath.Join(visualize, fmt.Sprintf("user-%d-%s.html", i, unsafeFileChars.ReplaceAllString(user, "_")))
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

// checkUsers checks every user, runtime.NumCPU() at a time, recording each result as it is
// decided. Each user keeps its own time limit.
func (r *run) checkUsers(maxDeliveries int32, timeout time.Duration) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				uv, model, ops := checkUser(r.input[i], maxDeliveries, timeout)
				// Recorded before the explanation, so that a limit hit while explaining still
				// reports the violation.
				r.mu.Lock()
				r.out[i] = checkedUser{verdict: uv, model: model}
				r.done[i] = true
				r.mu.Unlock()
				if uv.Result != "illegal" {
					continue
				}
				info, stuck := explain(model, ops, timeout)
				r.mu.Lock()
				r.out[i].info = info
				r.out[i].verdict.StuckOps = stuck
				r.mu.Unlock()
			}
		}()
	}
	for i := range r.users {
		next <- i
	}
	close(next)
	wg.Wait()
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

// operations: the user's operations as Porcupine takes them.
func (u userOps) operations() []porcupine.Operation {
	out := make([]porcupine.Operation, len(u.ops))
	for i, op := range u.ops {
		out[i] = porcupine.Operation{
			ClientId: op.process,
			Input:    op.input,
			Call:     op.call,
			Output:   op.output,
			Return:   op.ret,
			Metadata: op.id,
		}
	}
	return out
}

// checkUser decides one user with the plain check (much cheaper than the verbose one). It also
// returns the model and operations, for explain.
func checkUser(u userOps, maxDeliveries int32, timeout time.Duration) (userVerdict, porcupine.Model, []porcupine.Operation) {
	start := time.Now()
	uv := u.verdictBase()
	ops := u.operations()
	model := mailboxModel(u.size, maxDeliveries)
	switch porcupine.CheckOperationsTimeout(model, ops, timeout) {
	case porcupine.Ok:
		uv.Result = "ok"
	case porcupine.Unknown:
		uv.Result = "unknown"
		uv.Reason = fmt.Sprintf("no answer within %v", timeout)
	default:
		uv.Result = "illegal"
	}
	uv.ElapsedMs = time.Since(start).Milliseconds()
	return uv, model, ops
}

// explain runs the verbose check on a violating user: the partial linearizations that show where
// every order got stuck.
func explain(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration) (*porcupine.LinearizationInfo, []int64) {
	_, verbose := porcupine.CheckOperationsVerbose(model, ops, timeout)
	return &verbose, stuckOps(ops, verbose)
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
