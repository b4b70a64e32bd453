// The sequential specification of ONE user's mailbox (the history is partitioned per user), as
// far as a client can observe it without leases:
//   put(id)       appends id, unless the mailbox has already recorded a put of id: then it is a
//                 no-op answered with duplicate=true (the dedupe window outlives a run).
//   consume()     removes and returns the head, or returns empty; with a request id it is
//                 remembered, and a later consume with the same request id returns the remembered
//                 answer and changes nothing.
//   consume(dead-letter) / peek(dead-letter)
//                 the dead-letter queue only fills from leases, which these users never take, so
//                 it is always empty here.
//   peek()        returns the head without removing it.
//   len()         returns the queue length; nothing is in flight or dead-lettered.
// The state is immutable: Step returns a new state and never touches the old one.

package main

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/anishathalye/porcupine"
)

type queueInput struct {
	kind       string // put | consume | peek | len
	msgID      string // put
	requestID  string // consume
	hasRequest bool
	deadLetter bool
}

type queueOutput struct {
	known           bool   // false: indeterminate, matches anything
	duplicate       bool   // put
	msgID           string // consume, peek: "" when empty
	count           int64  // len
	inFlight        int64  // len
	deadLetterCount int64  // len
}

type queueState struct {
	queue    []string
	seen     map[string]struct{} // every put id the mailbox recorded
	requests map[string]string   // consume request id -> the answer it got ("" for empty)
	hash     uint64
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// rehash: the queue contributes in order, the two sets order-independently (XOR), so equal
// states always hash equal.
func (s *queueState) rehash() {
	h := fnv.New64a()
	for _, id := range s.queue {
		h.Write([]byte(id))
		h.Write([]byte{0})
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

func emptyState() *queueState {
	s := &queueState{seen: map[string]struct{}{}, requests: map[string]string{}}
	s.rehash()
	return s
}

func (s *queueState) withPut(id string) *queueState {
	next := &queueState{
		queue:    append(append(make([]string, 0, len(s.queue)+1), s.queue...), id),
		seen:     make(map[string]struct{}, len(s.seen)+1),
		requests: s.requests,
	}
	for k := range s.seen {
		next.seen[k] = struct{}{}
	}
	next.seen[id] = struct{}{}
	next.rehash()
	return next
}

// withConsume drops the head when `took` and remembers `answer` under the request id when given.
func (s *queueState) withConsume(took bool, in queueInput, answer string) *queueState {
	if !took && !in.hasRequest {
		return s
	}
	next := &queueState{queue: s.queue, seen: s.seen, requests: s.requests}
	if took {
		next.queue = s.queue[1:]
	}
	if in.hasRequest {
		next.requests = make(map[string]string, len(s.requests)+1)
		for k, v := range s.requests {
			next.requests[k] = v
		}
		next.requests[in.requestID] = answer
	}
	next.rehash()
	return next
}

func (s *queueState) head() string {
	if len(s.queue) == 0 {
		return ""
	}
	return s.queue[0]
}

func step(state, input, output interface{}) (bool, interface{}) {
	s := state.(*queueState)
	in := input.(queueInput)
	out := output.(queueOutput)
	switch in.kind {
	case "put":
		if _, dup := s.seen[in.msgID]; dup {
			return !out.known || out.duplicate, s
		}
		return !out.known || !out.duplicate, s.withPut(in.msgID)
	case "consume":
		if in.hasRequest {
			if answer, ok := s.requests[in.requestID]; ok {
				return !out.known || out.msgID == answer, s
			}
		}
		if in.deadLetter {
			return !out.known || out.msgID == "", s.withConsume(false, in, "")
		}
		answer := s.head()
		return !out.known || out.msgID == answer, s.withConsume(answer != "", in, answer)
	case "peek":
		if in.deadLetter {
			return out.msgID == "", s
		}
		return out.msgID == s.head(), s
	case "len":
		return out.count == int64(len(s.queue)) && out.inFlight == 0 && out.deadLetterCount == 0, s
	}
	return false, s
}

func equal(a, b interface{}) bool {
	x := a.(*queueState)
	y := b.(*queueState)
	if x.hash != y.hash || len(x.queue) != len(y.queue) || len(x.seen) != len(y.seen) || len(x.requests) != len(y.requests) {
		return false
	}
	for i := range x.queue {
		if x.queue[i] != y.queue[i] {
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
	case "consume", "peek":
		var args []string
		if in.hasRequest {
			args = append(args, "req="+in.requestID)
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
	case "len":
		return fmt.Sprintf("%s -> %d (in flight %d, dead %d)", call, out.count, out.inFlight, out.deadLetterCount)
	}
	return call + " -> " + describeAnswer(out.msgID)
}

func describeState(state interface{}) string {
	s := state.(*queueState)
	return "[" + strings.Join(s.queue, ", ") + "]"
}

var queueModel = porcupine.Model{
	Init:              func() interface{} { return emptyState() },
	Step:              step,
	Equal:             equal,
	Hash:              func(state interface{}) uint64 { return state.(*queueState).hash },
	DescribeOperation: describeOperation,
	DescribeState:     describeState,
	DescribeOperationMetadata: func(info interface{}) string {
		if info == nil {
			return ""
		}
		return fmt.Sprintf("history op %d", info.(int64))
	},
}
