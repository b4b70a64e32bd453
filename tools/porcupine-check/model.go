// The sequential specification of ONE user's mailbox (the history is partitioned per user), as a
// client can observe it. It follows src/mailbox/mailbox.ts:
//
//   put(id)        appends id, unless the mailbox already recorded a put of id: then it is a
//                  no-op answered duplicate=true (the dedupe window outlives a run). Sequence
//                  numbers grow in commit order, so answered puts must come in increasing seq.
//   consume()      takes the head (its delivery count goes up) or answers empty. With a lease the
//                  message goes in flight under the receipt the answer carried instead of leaving.
//                  With a request id the answer is remembered, and a later consume with the same
//                  request id gets it again and changes nothing.
//   consume(dead-letter)  the same on the dead-letter queue (never leased).
//   peek(dead-letter?)    the head of that queue, unchanged.
//   len()          queued, in-flight and dead-lettered counts.
//   ack(receipt)   ends the lease of that delivery: the message is gone. When the ack names the
//                  delivery count of the consume that handed out the receipt, only the lease of
//                  that very delivery matches: a receipt never settles a later delivery.
//   nack(receipt)  ends it and returns the message.
//   batch          the puts or the consumes of one batch call, one after the other at one point.
// A returned message goes back to its place in put order, or to the dead-letter queue once it
// has been delivered maxDeliveries times.
//
// When a lease runs out is decided by a server clock no client observes, so the model is
// nondeterministic there: before any operation, any subset of the leases in flight may have run
// out (permissive: a lease may end immediately, so the model cannot catch a lease that ended too
// early, only everything that follows from a lease ending; see headCandidates for how this is
// explored without enumerating subsets). Message TTLs are not modelled: a run must use TTLs
// longer than itself.
//
// States are immutable: a step builds new states and never touches the old one.

package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

type queueInput struct {
	kind       string // put | consume | peek | len | ack | nack | batch
	msg        int32  // put, ack, nack: message number
	msgID      string // the same, as the history spells it
	receipt    string // ack, nack
	deliveries int32  // ack, nack: which delivery the receipt came with, 0 if not told
	request    int32  // consume: request number, -1 without a request id
	requestID  string
	leased     bool // consume
	deadLetter bool // consume, peek
	// batch: the puts or consumes of one batch call, applied in order at one point
	parts []queueInput
}

type queueOutput struct {
	known           bool   // false: indeterminate, matches anything
	borrowed        bool   // an unanswered consume given the answer its request id got (replies)
	duplicate       bool   // put
	seq             int64  // put: the sequence number the mailbox gave the message, 0 if not told
	msg             int32  // consume, peek: message number, 0 when empty
	msgID           string // the same, as the history spells it
	deliveries      int32  // consume, peek
	hasDeliveries   bool
	receipt         string        // leased consume
	count           int64         // len
	inFlight        int64         // len
	deadLetterCount int64         // len
	parts           []queueOutput // batch, one per part
}

// partitionSize: how many distinct messages and request ids one user's history names, and the
// message ids by number (for visualizations).
type partitionSize struct {
	messages int
	requests int
	names    []string
}

type entry struct {
	msg        int32
	rank       int32 // put order, which is the mailbox's sequence order within one user
	deliveries int32
}

type lease struct {
	entry
	receipt string // "" while the consume that took it is indeterminate: nobody can settle it yet
	request int32  // that consume's request number, -1 without: a retry may tell the receipt
}

type mailboxState struct {
	queue    []entry  // by rank
	dead     []entry  // by rank
	leases   []lease  // in lease order
	seen     []uint64 // bit per message number: the mailbox recorded a put of it
	requests []int32  // per request number: 0 not yet, 1 answered empty, m+1 answered message m
	nextRank int32
	lastSeq  int64 // highest sequence number a put was answered with so far
	hash     uint64
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func mix(h uint64, v uint64) uint64 {
	return (h ^ v) * fnvPrime
}

func (s *mailboxState) rehash() {
	h := uint64(fnvOffset)
	for _, list := range [][]entry{s.queue, s.dead} {
		for _, e := range list {
			h = mix(h, uint64(e.msg)|uint64(e.rank)<<24|uint64(e.deliveries)<<48)
		}
		h = mix(h, 0xffff)
	}
	for _, l := range s.leases {
		h = mix(h, uint64(l.msg)|uint64(l.rank)<<24|uint64(l.deliveries)<<48)
		for i := 0; i < len(l.receipt); i++ {
			h = mix(h, uint64(l.receipt[i]))
		}
	}
	h = mix(h, 0xfffe)
	for _, w := range s.seen {
		h = mix(h, w)
	}
	for _, r := range s.requests {
		h = mix(h, uint64(r))
	}
	s.hash = mix(mix(h, uint64(s.nextRank)), uint64(s.lastSeq))
}

func emptyState(size partitionSize) *mailboxState {
	s := &mailboxState{
		seen:     make([]uint64, (size.messages+1+63)/64),
		requests: make([]int32, size.requests),
	}
	s.rehash()
	return s
}

// clone copies the lists; seen and requests are shared until a step replaces them.
func (s *mailboxState) clone() *mailboxState {
	return &mailboxState{
		queue:    append([]entry(nil), s.queue...),
		dead:     append([]entry(nil), s.dead...),
		leases:   append([]lease(nil), s.leases...),
		seen:     s.seen,
		requests: s.requests,
		nextRank: s.nextRank,
		lastSeq:  s.lastSeq,
	}
}

func insertByRank(list []entry, e entry) []entry {
	i := sort.Search(len(list), func(i int) bool { return list[i].rank > e.rank })
	list = append(list, entry{})
	copy(list[i+1:], list[i:])
	list[i] = e
	return list
}

// giveBack returns a message whose lease ended (mutates s, which must be a fresh clone).
func (s *mailboxState) giveBack(e entry, maxDeliveries int32) {
	if e.deliveries >= maxDeliveries {
		s.dead = insertByRank(s.dead, e)
	} else {
		s.queue = insertByRank(s.queue, e)
	}
}

// A lease that ran out and has not been observed since can be taken to run out later, just
// before the first operation that observes it, without changing any answer. So the model lets a
// lease run out only where that is observed: a consume or peek may find one returned message at
// the head (the one with the lowest rank among those that ran out), a len counts any subset, an
// indeterminate ack/nack may have found its lease already ended. This gives exactly the answers
// of "any subset of the leases may run out before any operation", with far fewer states.

// headCandidates: the queue's head (nil when empty) and the leases that, returned now, would be
// ahead of it in that queue.
func headCandidates(s *mailboxState, deadLetter bool, maxDeliveries int32) (*entry, []int) {
	from := s.queue
	if deadLetter {
		from = s.dead
	}
	var head *entry
	if len(from) > 0 {
		head = &from[0]
	}
	var returning []int
	for i, l := range s.leases {
		if (l.deliveries >= maxDeliveries) == deadLetter && (head == nil || l.rank < head.rank) {
			returning = append(returning, i)
		}
	}
	return head, returning
}

func withoutLease(s *mailboxState, i int) *mailboxState {
	next := s.clone()
	next.leases = append(next.leases[:i:i], s.leases[i+1:]...)
	return next
}

func matchesMessage(out queueOutput, e *entry) bool {
	if e == nil {
		return out.msg == 0
	}
	return out.msg == e.msg && (!out.hasDeliveries || out.deliveries == e.deliveries)
}

func put(s *mailboxState, in queueInput, out queueOutput) []*mailboxState {
	word, bit := in.msg/64, uint64(1)<<(in.msg%64)
	if s.seen[word]&bit != 0 {
		if out.known && !out.duplicate {
			return nil
		}
		return []*mailboxState{s}
	}
	if out.known && out.duplicate {
		return nil
	}
	// Sequence numbers are handed out in commit order, which is the linearization order: this
	// prunes every order of concurrent puts but the real one right where it is tried.
	if out.seq != 0 && out.seq <= s.lastSeq {
		return nil
	}
	next := s.clone()
	if out.seq != 0 {
		next.lastSeq = out.seq
	}
	next.queue = append(next.queue, entry{msg: in.msg, rank: s.nextRank})
	next.nextRank++
	next.seen = append([]uint64(nil), s.seen...)
	next.seen[word] |= bit
	next.rehash()
	return []*mailboxState{next}
}

func consume(s *mailboxState, in queueInput, out queueOutput, maxDeliveries int32) []*mailboxState {
	if in.request >= 0 {
		if answer := s.requests[in.request]; answer != 0 {
			if out.known && out.msg != answer-1 {
				return nil
			}
			return []*mailboxState{learnReceipt(s, in, out)}
		}
	}
	if in.leased && in.deadLetter {
		return nil // the mailbox refuses it, so it cannot have answered ok
	}
	head, returning := headCandidates(s, in.deadLetter, maxDeliveries)
	var result []*mailboxState
	// take: the state after `taken` (nil: an empty answer) left `base`'s queue, or base's lease
	// list when !fromQueue (base is then already a fresh clone).
	take := func(base *mailboxState, taken *entry, fromQueue bool) {
		if taken != nil {
			e := *taken
			e.deliveries++
			taken = &e
		}
		if out.known && !matchesMessage(out, taken) {
			return
		}
		if taken == nil && in.request < 0 {
			result = append(result, s)
			return
		}
		next := base
		if fromQueue {
			next = s.clone()
		}
		answer := int32(1)
		if taken != nil {
			answer = taken.msg + 1
			if fromQueue && in.deadLetter {
				next.dead = next.dead[1:]
			} else if fromQueue {
				next.queue = next.queue[1:]
			}
			if in.leased {
				next.leases = append(next.leases, lease{entry: *taken, receipt: out.receipt, request: in.request})
			}
		}
		if in.request >= 0 {
			next.requests = append([]int32(nil), s.requests...)
			next.requests[in.request] = answer
		}
		next.rehash()
		result = append(result, next)
	}
	take(s, head, true)
	for _, i := range returning {
		l := s.leases[i].entry
		take(withoutLease(s, i), &l, false)
	}
	return result
}

// learnReceipt: a replayed answer to a leased consume whose first attempt was indeterminate tells
// the receipt of the lease that attempt took, which can then be settled.
func learnReceipt(s *mailboxState, in queueInput, out queueOutput) *mailboxState {
	if !out.known || out.receipt == "" {
		return s
	}
	for i, l := range s.leases {
		if l.request == in.request && l.receipt == "" && l.msg == out.msg {
			next := s.clone()
			next.leases[i].receipt = out.receipt
			next.rehash()
			return next
		}
	}
	return s
}

func peek(s *mailboxState, in queueInput, out queueOutput, maxDeliveries int32) []*mailboxState {
	head, returning := headCandidates(s, in.deadLetter, maxDeliveries)
	var result []*mailboxState
	if matchesMessage(out, head) {
		result = append(result, s)
	}
	for _, i := range returning {
		l := s.leases[i].entry
		if !matchesMessage(out, &l) {
			continue
		}
		next := withoutLease(s, i)
		next.giveBack(l, maxDeliveries)
		next.rehash()
		result = append(result, next)
	}
	return result
}

// length: the leases that ran out are any subset of the right sizes, which the counts give.
func length(ctx context.Context, s *mailboxState, out queueOutput, maxDeliveries int32) []*mailboxState {
	toQueue := out.count - int64(len(s.queue))
	toDead := out.deadLetterCount - int64(len(s.dead))
	if toQueue < 0 || toDead < 0 || out.inFlight != int64(len(s.leases))-toQueue-toDead {
		return nil
	}
	if toQueue == 0 && toDead == 0 {
		return []*mailboxState{s}
	}
	var queueBound, deadBound []int
	for i, l := range s.leases {
		if l.deliveries >= maxDeliveries {
			deadBound = append(deadBound, i)
		} else {
			queueBound = append(queueBound, i)
		}
	}
	var result []*mailboxState
	forEachSubset(ctx, queueBound, int(toQueue), func(q []int) {
		forEachSubset(ctx, deadBound, int(toDead), func(d []int) {
			ended := make(map[int]bool, len(q)+len(d))
			for _, i := range q {
				ended[i] = true
			}
			for _, i := range d {
				ended[i] = true
			}
			next := s.clone()
			next.leases = next.leases[:0]
			for i, l := range s.leases {
				if ended[i] {
					next.giveBack(l.entry, maxDeliveries)
				} else {
					next.leases = append(next.leases, l)
				}
			}
			next.rehash()
			result = append(result, next)
		})
	})
	return result
}

// forEachSubset calls f with every k-element subset of items (none when k > len(items)).
func forEachSubset(ctx context.Context, items []int, k int, f func([]int)) {
	chosen := make([]int, 0, k)
	var rec func(from int)
	rec = func(from int) {
		if ctx.Err() != nil {
			return
		}
		if len(chosen) == k {
			f(chosen)
			return
		}
		for i := from; i <= len(items)-(k-len(chosen)); i++ {
			chosen = append(chosen, items[i])
			rec(i + 1)
			chosen = chosen[:len(chosen)-1]
		}
	}
	rec(0)
}

func settle(s *mailboxState, in queueInput, out queueOutput, maxDeliveries int32) []*mailboxState {
	var result []*mailboxState
	if !out.known {
		// It may have found its lease already ended: it failed and changed nothing.
		result = append(result, s)
	}
	for i, l := range s.leases {
		if l.msg != in.msg || l.receipt == "" || l.receipt != in.receipt || (in.deliveries != 0 && l.deliveries != in.deliveries) {
			continue
		}
		next := withoutLease(s, i)
		if in.kind == "nack" {
			next.giveBack(l.entry, maxDeliveries)
		}
		next.rehash()
		result = append(result, next)
	}
	return result
}

func step(ctx context.Context, s *mailboxState, in queueInput, out queueOutput, maxDeliveries int32) []*mailboxState {
	switch in.kind {
	case "put":
		return put(s, in, out)
	case "consume":
		return consume(s, in, out, maxDeliveries)
	case "peek":
		return peek(s, in, out, maxDeliveries)
	case "len":
		return length(ctx, s, out, maxDeliveries)
	case "ack", "nack":
		return settle(s, in, out, maxDeliveries)
	case "batch":
		states := []*mailboxState{s}
		for i, part := range in.parts {
			var next []*mailboxState
			for _, st := range states {
				next = append(next, step(ctx, st, part, out.parts[i], maxDeliveries)...)
			}
			if len(next) == 0 {
				return nil
			}
			states = next
		}
		return states
	}
	return nil
}

func equalStates(a, b interface{}) bool {
	x := a.(*mailboxState)
	y := b.(*mailboxState)
	if x.hash != y.hash || x.nextRank != y.nextRank || x.lastSeq != y.lastSeq {
		return false
	}
	if !equalEntries(x.queue, y.queue) || !equalEntries(x.dead, y.dead) || len(x.leases) != len(y.leases) {
		return false
	}
	for i := range x.leases {
		if x.leases[i] != y.leases[i] {
			return false
		}
	}
	for i := range x.seen {
		if x.seen[i] != y.seen[i] {
			return false
		}
	}
	for i := range x.requests {
		if x.requests[i] != y.requests[i] {
			return false
		}
	}
	return true
}

func equalEntries(a, b []entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func describeAnswer(id string) string {
	if id == "" {
		return "empty"
	}
	return id
}

func describeOperation(input, output interface{}) string {
	in := input.(queueInput)
	out := output.(queueOutput)
	if in.kind == "batch" {
		parts := make([]string, len(in.parts))
		for i := range in.parts {
			parts[i] = describeOperation(in.parts[i], out.parts[i])
		}
		return "batch[" + strings.Join(parts, "; ") + "]"
	}
	var call string
	switch in.kind {
	case "put":
		call = fmt.Sprintf("put(%s)", in.msgID)
	case "ack", "nack":
		call = fmt.Sprintf("%s(%s, %s)", in.kind, in.msgID, in.receipt)
	case "consume", "peek":
		var args []string
		if in.request >= 0 {
			args = append(args, "req="+in.requestID)
		}
		if in.leased {
			args = append(args, "lease")
		}
		if in.deadLetter {
			args = append(args, "dead-letter")
		}
		call = fmt.Sprintf("%s(%s)", in.kind, strings.Join(args, ", "))
	default:
		call = in.kind + "()"
	}
	if !out.known {
		return call + " -> ?"
	}
	switch in.kind {
	case "put":
		if out.duplicate {
			return call + " -> duplicate"
		}
		return call + " -> ok"
	case "ack", "nack":
		return call + " -> ok"
	case "len":
		return fmt.Sprintf("%s -> %d (in flight %d, dead %d)", call, out.count, out.inFlight, out.deadLetterCount)
	}
	answer := describeAnswer(out.msgID)
	if out.receipt != "" {
		answer += " receipt " + out.receipt
	}
	if out.borrowed {
		answer += " (unanswered; its request id's answer)"
	}
	return call + " -> " + answer
}

// mailboxModel is the model of one user's mailbox whose history names `size` ids, dead-lettering
// after maxDeliveries deliveries.
func mailboxModel(size partitionSize, maxDeliveries int32) porcupine.Model {
	names := size.names
	describeEntries := func(list []entry) string {
		ids := make([]string, len(list))
		for i, e := range list {
			ids[i] = names[e.msg]
		}
		return "[" + strings.Join(ids, ", ") + "]"
	}
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{emptyState(size)} },
		StepContext: func(ctx context.Context, state, input, output interface{}) []interface{} {
			next := step(ctx, state.(*mailboxState), input.(queueInput), output.(queueOutput), maxDeliveries)
			states := make([]interface{}, len(next))
			for i, n := range next {
				states[i] = n
			}
			return states
		},
		Equal:             equalStates,
		Hash:              func(state interface{}) uint64 { return state.(*mailboxState).hash },
		DescribeOperation: describeOperation,
		DescribeState: func(state interface{}) string {
			s := state.(*mailboxState)
			if len(s.leases) == 0 && len(s.dead) == 0 {
				return describeEntries(s.queue)
			}
			held := make([]entry, len(s.leases))
			for i, l := range s.leases {
				held[i] = l.entry
			}
			return fmt.Sprintf("%s in flight %s dead %s", describeEntries(s.queue), describeEntries(held), describeEntries(s.dead))
		},
		DescribeOperationMetadata: func(info interface{}) string {
			if info == nil {
				return ""
			}
			return fmt.Sprintf("history op %d", info.(int64))
		},
	}
	return nm.ToModel()
}
