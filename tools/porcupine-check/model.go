// The sequential specification of ONE user's mailbox (the history is partitioned per user), as a
// client can observe it. It follows src/mailbox/mailbox.ts:
//
//   put(id)        appends id, unless the mailbox already recorded a put of id: then it is a
//                  no-op answered duplicate=true (the dedupe window outlives a run).
//   consume()      takes the head (its delivery count goes up) or answers empty. With a lease the
//                  message goes in flight under the receipt the answer carried instead of leaving.
//                  With a request id the answer is remembered, and a later consume with the same
//                  request id gets it again and changes nothing.
//   consume(dead-letter)  the same on the dead-letter queue (never leased).
//   peek(dead-letter?)    the head of that queue, unchanged.
//   len()          queued, in-flight and dead-lettered counts.
//   ack(receipt)   ends the lease of that delivery: the message is gone.
//   nack(receipt)  ends it and returns the message.
// A returned message goes back to its place in put order, or to the dead-letter queue once it
// has been delivered maxDeliveries times.
//
// When a lease runs out is decided by a server clock no client observes, so the model is
// nondeterministic there: before any operation, any subset of the leases in flight may run out
// (permissive: a lease may end immediately, so the model cannot catch a lease that ended too early,
// only everything that follows from a lease ending). Message TTLs are not modelled: a run must use
// TTLs longer than itself.
//
// States are immutable: a step builds new states and never touches the old one.

package main

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

type queueInput struct {
	kind       string // put | consume | peek | len | ack | nack
	msgID      string // put, ack, nack
	receipt    string // ack, nack
	requestID  string // consume
	hasRequest bool
	leased     bool // consume
	deadLetter bool // consume, peek
}

type queueOutput struct {
	known           bool   // false: indeterminate, matches anything
	duplicate       bool   // put
	msgID           string // consume, peek: "" when empty
	deliveries      int64  // consume, peek
	hasDeliveries   bool
	receipt         string // leased consume
	count           int64  // len
	inFlight        int64  // len
	deadLetterCount int64  // len
}

type entry struct {
	id         string
	rank       int64 // put order, which is the mailbox's sequence order within one user
	deliveries int64
}

type lease struct {
	entry
	receipt string // "" when the consume that took it is indeterminate: nobody can settle it
}

type mailboxState struct {
	queue    []entry // by rank
	dead     []entry // by rank
	leases   []lease // in lease order
	seen     map[string]struct{}
	requests map[string]string // consume request id -> the answer it got ("" for empty)
	nextRank int64
	hash     uint64
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// rehash: lists contribute in order, sets order-independently (XOR), so equal states hash equal.
func (s *mailboxState) rehash() {
	h := fnv.New64a()
	for _, list := range [][]entry{s.queue, s.dead} {
		for _, e := range list {
			fmt.Fprintf(h, "%s\x00%d\x00%d\x00", e.id, e.rank, e.deliveries)
		}
		h.Write([]byte{1})
	}
	for _, l := range s.leases {
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s\x00", l.id, l.rank, l.deliveries, l.receipt)
	}
	sum := h.Sum64()
	for id := range s.seen {
		sum ^= hashString("p\x00"+id) * 0x9e3779b97f4a7c15
	}
	for rid, answer := range s.requests {
		sum ^= hashString("r\x00"+rid+"\x00"+answer) * 0xc2b2ae3d27d4eb4f
	}
	s.hash = sum
}

func emptyState() *mailboxState {
	s := &mailboxState{seen: map[string]struct{}{}, requests: map[string]string{}}
	s.rehash()
	return s
}

// clone copies the slices (maps are shared until a step replaces them).
func (s *mailboxState) clone() *mailboxState {
	return &mailboxState{
		queue:    append([]entry(nil), s.queue...),
		dead:     append([]entry(nil), s.dead...),
		leases:   append([]lease(nil), s.leases...),
		seen:     s.seen,
		requests: s.requests,
		nextRank: s.nextRank,
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
func (s *mailboxState) giveBack(e entry, maxDeliveries int64) {
	if e.deliveries >= maxDeliveries {
		s.dead = insertByRank(s.dead, e)
	} else {
		s.queue = insertByRank(s.queue, e)
	}
}

// withExpiries: every state reachable by some subset of the leases running out.
func withExpiries(s *mailboxState, maxDeliveries int64) []*mailboxState {
	n := len(s.leases)
	if n == 0 {
		return []*mailboxState{s}
	}
	out := make([]*mailboxState, 0, 1<<n)
	for mask := 0; mask < 1<<n; mask++ {
		if mask == 0 {
			out = append(out, s)
			continue
		}
		next := s.clone()
		next.leases = next.leases[:0]
		for i, l := range s.leases {
			if mask&(1<<i) != 0 {
				next.giveBack(l.entry, maxDeliveries)
			} else {
				next.leases = append(next.leases, l)
			}
		}
		next.rehash()
		out = append(out, next)
	}
	return out
}

func remember(requests map[string]string, rid, answer string) map[string]string {
	next := make(map[string]string, len(requests)+1)
	for k, v := range requests {
		next[k] = v
	}
	next[rid] = answer
	return next
}

func matchesMessage(out queueOutput, e *entry) bool {
	if e == nil {
		return out.msgID == ""
	}
	return out.msgID == e.id && (!out.hasDeliveries || out.deliveries == e.deliveries)
}

// apply runs one operation on one state: the next state, or nil when the output is impossible.
func apply(s *mailboxState, in queueInput, out queueOutput, maxDeliveries int64) *mailboxState {
	switch in.kind {
	case "put":
		if _, dup := s.seen[in.msgID]; dup {
			if out.known && !out.duplicate {
				return nil
			}
			return s
		}
		if out.known && out.duplicate {
			return nil
		}
		next := s.clone()
		next.queue = append(next.queue, entry{id: in.msgID, rank: s.nextRank})
		next.nextRank++
		next.seen = make(map[string]struct{}, len(s.seen)+1)
		for k := range s.seen {
			next.seen[k] = struct{}{}
		}
		next.seen[in.msgID] = struct{}{}
		next.rehash()
		return next

	case "consume":
		if in.hasRequest {
			if answer, ok := s.requests[in.requestID]; ok {
				if out.known && out.msgID != answer {
					return nil
				}
				return s
			}
		}
		if in.leased && in.deadLetter {
			return nil // the mailbox refuses it, so it cannot have answered ok
		}
		from := s.queue
		if in.deadLetter {
			from = s.dead
		}
		var taken *entry
		if len(from) > 0 {
			e := from[0]
			e.deliveries++
			taken = &e
		}
		if out.known && !matchesMessage(out, taken) {
			return nil
		}
		if taken == nil && !in.hasRequest {
			return s
		}
		next := s.clone()
		answer := ""
		if taken != nil {
			answer = taken.id
			if in.deadLetter {
				next.dead = next.dead[1:]
			} else {
				next.queue = next.queue[1:]
			}
			if in.leased {
				next.leases = append(next.leases, lease{entry: *taken, receipt: out.receipt})
			}
		}
		if in.hasRequest {
			next.requests = remember(s.requests, in.requestID, answer)
		}
		next.rehash()
		return next

	case "peek":
		from := s.queue
		if in.deadLetter {
			from = s.dead
		}
		var head *entry
		if len(from) > 0 {
			head = &from[0]
		}
		if !matchesMessage(out, head) {
			return nil
		}
		return s

	case "len":
		if out.count != int64(len(s.queue)) || out.inFlight != int64(len(s.leases)) || out.deadLetterCount != int64(len(s.dead)) {
			return nil
		}
		return s

	case "ack", "nack":
		for i, l := range s.leases {
			if l.id != in.msgID || l.receipt == "" || l.receipt != in.receipt {
				continue
			}
			next := s.clone()
			next.leases = append(next.leases[:i:i], s.leases[i+1:]...)
			if in.kind == "nack" {
				next.giveBack(l.entry, maxDeliveries)
			}
			next.rehash()
			return next
		}
		if out.known {
			return nil // acknowledged, but no such lease was in flight
		}
		return s // indeterminate and the lease had already ended: it failed, changing nothing
	}
	return nil
}

func equalStates(a, b interface{}) bool {
	x := a.(*mailboxState)
	y := b.(*mailboxState)
	if x.hash != y.hash || x.nextRank != y.nextRank || len(x.seen) != len(y.seen) || len(x.requests) != len(y.requests) {
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
	for k := range x.seen {
		if _, ok := y.seen[k]; !ok {
			return false
		}
	}
	for k, v := range x.requests {
		if w, ok := y.requests[k]; !ok || w != v {
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
	var call string
	switch in.kind {
	case "put":
		call = fmt.Sprintf("put(%s)", in.msgID)
	case "ack", "nack":
		call = fmt.Sprintf("%s(%s, %s)", in.kind, in.msgID, in.receipt)
	case "consume", "peek":
		var args []string
		if in.hasRequest {
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
	return call + " -> " + answer
}

func describeEntries(list []entry) string {
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.id
	}
	return "[" + strings.Join(ids, ", ") + "]"
}

func describeState(state interface{}) string {
	s := state.(*mailboxState)
	if len(s.leases) == 0 && len(s.dead) == 0 {
		return describeEntries(s.queue)
	}
	held := make([]string, len(s.leases))
	for i, l := range s.leases {
		held[i] = l.id
	}
	return fmt.Sprintf("%s in flight [%s] dead %s", describeEntries(s.queue), strings.Join(held, ", "), describeEntries(s.dead))
}

// mailboxModel is the model for one user, dead-lettering after maxDeliveries deliveries.
func mailboxModel(maxDeliveries int64) porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{emptyState()} },
		Step: func(state, input, output interface{}) []interface{} {
			in := input.(queueInput)
			out := output.(queueOutput)
			var next []interface{}
			for _, s := range withExpiries(state.(*mailboxState), maxDeliveries) {
				if n := apply(s, in, out, maxDeliveries); n != nil {
					next = append(next, n)
				}
			}
			return next
		},
		Equal:             equalStates,
		Hash:              func(state interface{}) uint64 { return state.(*mailboxState).hash },
		DescribeOperation: describeOperation,
		DescribeState:     describeState,
		DescribeOperationMetadata: func(info interface{}) string {
			if info == nil {
				return ""
			}
			return fmt.Sprintf("history op %d", info.(int64))
		},
	}
	return nm.ToModel()
}
