// Reading the history JSONL that src/verify/history.ts defines, and turning one user's records
// into Porcupine operations. The TypeScript reader is the full validator; this side still
// refuses what it cannot interpret, and bounds every line.

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
)

type message struct {
	MsgID      string `json:"msgId"`
	Deliveries *int64 `json:"deliveries"`
	Receipt    string `json:"receipt"`
}

type record struct {
	Type    string `json:"type"`
	ID      int64  `json:"id"`
	Process int64  `json:"process"`
	User    string `json:"user"`
	Op      string `json:"op"`
	Input   struct {
		MsgID      string  `json:"msgId"`
		Receipt    string  `json:"receipt"`
		Deliveries int64   `json:"deliveries"`
		RequestID  *string `json:"requestId"`
		LeaseMs    *int64  `json:"leaseMs"`
		DeadLetter bool    `json:"deadLetter"`
		Batch      *struct {
			Size  int64 `json:"size"`
			Index int64 `json:"index"`
		} `json:"batch"`
	} `json:"input"`
	Call    int64  `json:"call"`
	Return  *int64 `json:"return"`
	Outcome string `json:"outcome"`
	Output  struct {
		MsgID     string `json:"msgId"`
		Duplicate bool   `json:"duplicate"`
		Seq       *int64 `json:"seq"`
		// Only an ok consume or peek carries a delivered message here; on fail and info ops the
		// history format allows an error text under "message", so it is decoded after the outcome
		// is known (see decodeMessage).
		RawMessage      json.RawMessage `json:"message"`
		Message         *message        `json:"-"`
		Count           int64           `json:"count"`
		InFlight        int64           `json:"inFlight"`
		DeadLetterCount int64           `json:"deadLetterCount"`
		Error           string          `json:"error"`
	} `json:"output"`
}

// decodeMessage fills Output.Message from the raw "message" field of an ok op; "null" means empty.
func decodeMessage(rec *record) error {
	if rec.Outcome != "ok" || len(rec.Output.RawMessage) == 0 || string(rec.Output.RawMessage) == "null" {
		return nil
	}
	var m message
	if err := json.Unmarshal(rec.Output.RawMessage, &m); err != nil {
		return fmt.Errorf("output.message: %v", err)
	}
	rec.Output.Message = &m
	return nil
}

// readOps returns the op records of a history, grouped by user, users in first-seen order.
func readOps(r io.Reader, maxLineBytes int) ([]string, map[string][]record, error) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 64*1024), maxLineBytes)
	byUser := make(map[string][]record)
	var users []string
	line := 0
	for scanner.Scan() {
		line++
		text := scanner.Bytes()
		if len(trimSpace(text)) == 0 {
			continue
		}
		var rec record
		if err := json.Unmarshal(text, &rec); err != nil {
			return nil, nil, fmt.Errorf("line %d: %v", line, err)
		}
		if rec.Type != "op" {
			continue
		}
		if err := decodeMessage(&rec); err != nil {
			return nil, nil, fmt.Errorf("line %d: %v", line, err)
		}
		if err := checkRecord(&rec); err != nil {
			return nil, nil, fmt.Errorf("line %d: %v", line, err)
		}
		if _, ok := byUser[rec.User]; !ok {
			users = append(users, rec.User)
		}
		byUser[rec.User] = append(byUser[rec.User], rec)
	}
	if err := scanner.Err(); err != nil {
		return nil, nil, fmt.Errorf("after line %d: %v", line, err)
	}
	return users, byUser, nil
}

func trimSpace(b []byte) []byte {
	start, end := 0, len(b)
	for start < end && (b[start] == ' ' || b[start] == '\t' || b[start] == '\r') {
		start++
	}
	for end > start && (b[end-1] == ' ' || b[end-1] == '\t' || b[end-1] == '\r') {
		end--
	}
	return b[start:end]
}

func checkRecord(rec *record) error {
	if rec.User == "" {
		return fmt.Errorf("op %d has no user", rec.ID)
	}
	switch rec.Op {
	case "put", "consume", "peek", "len", "ack", "nack":
	default:
		return fmt.Errorf("op %d: unknown op %q", rec.ID, rec.Op)
	}
	switch rec.Outcome {
	case "ok", "fail":
		if rec.Return == nil || *rec.Return < rec.Call {
			return fmt.Errorf("op %d: a completed op needs a return time not before its call", rec.ID)
		}
	case "info":
	default:
		return fmt.Errorf("op %d: unknown outcome %q", rec.ID, rec.Outcome)
	}
	if (rec.Op == "put" || rec.Op == "ack" || rec.Op == "nack") && rec.Input.MsgID == "" {
		return fmt.Errorf("op %d: %s without msgId", rec.ID, rec.Op)
	}
	if b := rec.Input.Batch; b != nil && (rec.Op != "put" && rec.Op != "consume" || b.Size < 1 || b.Size > maxBatchSize || b.Index < 0 || b.Index >= b.Size || rec.ID < b.Index) {
		return fmt.Errorf("op %d: batch %d of %d on a %s", rec.ID, b.Index, b.Size, rec.Op)
	}
	if (rec.Op == "ack" || rec.Op == "nack") && rec.Input.Receipt == "" {
		return fmt.Errorf("op %d: %s without receipt", rec.ID, rec.Op)
	}
	if rec.Outcome == "ok" && rec.Op == "consume" && rec.Input.LeaseMs != nil && rec.Output.Message != nil && rec.Output.Message.Receipt == "" {
		return fmt.Errorf("op %d: leased consume answered without a receipt", rec.ID)
	}
	return nil
}

// maxBatchSize bounds a batch call's size, far above the mailbox's own batch limit.
const maxBatchSize = 10_000

// toOperations converts one user's records. Failed ops did not happen and are dropped; an
// indeterminate op may take effect at any point after its call, so it returns at +infinity
// with an output that matches anything; an indeterminate read changes nothing and is dropped.
// An indeterminate consume whose request id some attempt got an answer to is given that answer:
// the mailbox remembers one result per request id and replays it verbatim, so whichever attempt
// took effect answered exactly that (see replies).
// The ops of one batch call (input.batch; their ids run from id-index) become ONE operation that
// applies them in order at one point, as the mailbox does: left as separate ops, an
// indeterminate batch of four is four ops Porcupine must try at every point and in every order
// on their own, which turned a 260-op history from milliseconds into more memory than the
// machine has. Message and request ids are numbered (messages from 1, 0 meaning "empty") so that
// model states are small arrays that copy and compare fast.
func toOperations(recs []record) ([]porcupineOp, partitionSize, error) {
	processes := make(map[int64]int)
	var procOrder []int64
	for _, r := range recs {
		if _, ok := processes[r.Process]; !ok {
			processes[r.Process] = 0
			procOrder = append(procOrder, r.Process)
		}
	}
	sort.Slice(procOrder, func(i, j int) bool { return procOrder[i] < procOrder[j] })
	for i, p := range procOrder {
		processes[p] = i
	}

	msgs := map[string]int32{}
	msgNumber := func(id string) int32 {
		n, ok := msgs[id]
		if !ok {
			n = int32(len(msgs) + 1)
			msgs[id] = n
		}
		return n
	}
	requests := map[string]int32{}

	bounds := infoBounds(recs)
	answers := replies(recs)
	var ops []porcupineOp
	batches := map[int64]int{} // first op id of a batch -> its operation in ops
	for _, r := range recs {
		if r.Outcome == "fail" {
			continue
		}
		determinate := r.Outcome == "ok"
		if !determinate && (r.Op == "peek" || r.Op == "len") {
			continue
		}
		// The record whose output this op is checked against: its own, or the answer its request
		// id got; none for an indeterminate op of unknown answer.
		answer := &r
		if !determinate {
			answer = nil
			if r.Op == "consume" && r.Input.RequestID != nil {
				answer = answers[*r.Input.RequestID]
			}
		}
		// An indeterminate op's return: +infinity, or the time after which it can only have been
		// a no-op (infoBounds); boundless records whether it has no such time.
		ret := int64(math.MaxInt64)
		boundless := !determinate
		if !determinate {
			if b, ok := bounds.of(r); ok {
				ret = b
				boundless = false
			}
		}
		in := queueInput{
			kind:       r.Op,
			msgID:      r.Input.MsgID,
			receipt:    r.Input.Receipt,
			deliveries: int32(r.Input.Deliveries),
			leased:     r.Input.LeaseMs != nil,
			deadLetter: r.Input.DeadLetter,
			request:    -1,
		}
		if r.Input.MsgID != "" {
			in.msg = msgNumber(r.Input.MsgID)
		}
		if r.Input.RequestID != nil {
			in.requestID = *r.Input.RequestID
			n, ok := requests[in.requestID]
			if !ok {
				n = int32(len(requests))
				requests[in.requestID] = n
			}
			in.request = n
		}
		if determinate {
			ret = *r.Return
		}
		out := queueOutput{known: answer != nil, borrowed: answer != nil && !determinate}
		if a := answer; a != nil {
			out.duplicate = a.Output.Duplicate
			if a.Op == "put" && a.Output.Seq != nil {
				out.seq = *a.Output.Seq
			}
			out.count = a.Output.Count
			out.inFlight = a.Output.InFlight
			out.deadLetterCount = a.Output.DeadLetterCount
			if m := a.Output.Message; m != nil {
				out.msgID = m.MsgID
				out.msg = msgNumber(m.MsgID)
				if m.Deliveries != nil {
					out.deliveries = int32(*m.Deliveries)
					out.hasDeliveries = true
				}
				out.receipt = m.Receipt
			}
		}
		if b := r.Input.Batch; b != nil {
			first := r.ID - b.Index
			if i, ok := batches[first]; ok {
				op := &ops[i]
				head := op.input.parts[0]
				if b.Index != int64(len(op.input.parts)) || r.Op != head.kind || r.Call != op.call || determinate == op.indeterminate || (determinate && ret != op.ret) {
					return nil, partitionSize{}, fmt.Errorf("op %d: does not continue the batch of op %d", r.ID, first)
				}
				op.input.parts = append(op.input.parts, in)
				op.output.parts = append(op.output.parts, out)
				// A batch is a no-op after every op of it is (see infoBounds).
				if !determinate && (boundless || ret > op.ret) {
					op.ret = ret
				}
				continue
			}
			if b.Index != 0 {
				return nil, partitionSize{}, fmt.Errorf("op %d: batch index %d without the batch's first op %d", r.ID, b.Index, first)
			}
			batches[first] = len(ops)
			ops = append(ops, porcupineOp{
				id:            r.ID,
				process:       processes[r.Process],
				input:         queueInput{kind: "batch", parts: []queueInput{in}},
				output:        queueOutput{known: determinate, parts: []queueOutput{out}},
				indeterminate: !determinate,
				call:          r.Call,
				ret:           ret,
			})
			continue
		}
		ops = append(ops, porcupineOp{
			id:            r.ID,
			process:       processes[r.Process],
			input:         in,
			output:        out,
			indeterminate: !determinate,
			call:          r.Call,
			ret:           ret,
		})
	}
	// Settled before it was even invoked: whatever it did was a no-op.
	kept := ops[:0]
	for _, op := range ops {
		if op.indeterminate && op.ret < op.call {
			continue
		}
		kept = append(kept, op)
	}
	kept = joinRetries(kept)
	names := make([]string, len(msgs)+1)
	for id, n := range msgs {
		names[n] = id
	}
	return kept, partitionSize{messages: len(msgs), requests: len(requests), names: names}, nil
}

// joinRetries keeps, of the unanswered attempts of one request (see retryKey), only the first one
// called, given the latest return of them all. The mailbox applies such a request at most once
// (a later attempt is deduped or replayed), so together they are one effect that may land at any
// point after the first call, or not at all: exactly what the first attempt alone stands for.
// Left apart, a client retrying a request that went unanswered to the end of a run put dozens of
// unbounded ops on one user, each of which Porcupine must try at every later point: in one CI run
// that search passed the checker's 4 GiB. Answered attempts are left alone: their answer is evidence.
func joinRetries(ops []porcupineOp) []porcupineOp {
	first := map[string]int{} // retry key -> index in out of the first attempt called
	out := ops[:0]
	for _, op := range ops {
		key, ok := retryKey(op.input)
		if !op.indeterminate || !ok {
			out = append(out, op)
			continue
		}
		i, seen := first[key]
		if !seen {
			first[key] = len(out)
			out = append(out, op)
			continue
		}
		kept := &out[i]
		if op.ret > kept.ret {
			kept.ret = op.ret
		}
		if op.call < kept.call {
			kept.id, kept.process, kept.call = op.id, op.process, op.call
		}
	}
	return out
}

// retryKey names what makes attempts one request: a put's message id, a consume's request id,
// an ack's or nack's receipt, and for a batch its parts' keys in order. A consume without a
// request id has none: two such attempts may both take a message.
func retryKey(in queueInput) (string, bool) {
	switch in.kind {
	case "put":
		return "put\x00" + in.msgID, true
	case "consume":
		if in.request < 0 {
			return "", false
		}
		return "consume\x00" + in.requestID, true
	case "ack", "nack":
		return in.kind + "\x00" + in.receipt, true
	case "batch":
		key := "batch"
		for _, p := range in.parts {
			k, ok := retryKey(p)
			if !ok {
				return "", false
			}
			key += "\x01" + k
		}
		return key, true
	}
	return "", false
}

type porcupineOp struct {
	id      int64
	process int
	input   queueInput
	output  queueOutput
	// The client got no answer: the op may have taken effect any time from its call to ret.
	indeterminate bool
	call          int64
	ret           int64
}

// replies: per request id, the first answered consume with it. Whichever attempt with that id
// took effect produced this answer (the mailbox replays the remembered result verbatim), so an
// unanswered attempt can be checked against it instead of against anything: for a batch or a
// leased consume that is a known message per part where the search would otherwise try every
// head and every returning lease, at every point up to the answer.
func replies(recs []record) map[string]*record {
	out := map[string]*record{}
	for i := range recs {
		r := &recs[i]
		if r.Outcome == "ok" && r.Op == "consume" && r.Input.RequestID != nil {
			if _, ok := out[*r.Input.RequestID]; !ok {
				out[*r.Input.RequestID] = r
			}
		}
	}
	return out
}

// infoBounds: for an indeterminate op, a time after which taking effect could no longer change
// anything, learnt from other ops of the same user:
//
//	put(id)              once any completed op showed id was put (the put, a retry answered
//	                     duplicate, a consume or peek that returned it): a later put is deduped;
//	consume(request id)  once a consume with that request id completed: a later one replays;
//	ack/nack(receipt)    once one of that receipt completed, or failed for the lease being gone.
//
// Such an op took effect by then, or its effect was a no-op, which the model can also place before
// that time (a put or consume right after the op that settled it, an ack/nack as failed); so it
// can be given that return time instead of +infinity, which prunes the search.
type infoBound struct {
	shown    map[string]int64
	answered map[string]int64
	gone     map[string]int64
}

func earliest(m map[string]int64, k string, t int64) {
	if old, ok := m[k]; !ok || t < old {
		m[k] = t
	}
}

func infoBounds(recs []record) infoBound {
	b := infoBound{shown: map[string]int64{}, answered: map[string]int64{}, gone: map[string]int64{}}
	for _, r := range recs {
		if r.Return == nil {
			continue
		}
		t := *r.Return
		switch {
		case r.Outcome == "ok" && r.Op == "put":
			earliest(b.shown, r.Input.MsgID, t)
		case r.Outcome == "ok" && (r.Op == "consume" || r.Op == "peek"):
			if r.Output.Message != nil {
				earliest(b.shown, r.Output.Message.MsgID, t)
			}
			if r.Op == "consume" && r.Input.RequestID != nil {
				earliest(b.answered, *r.Input.RequestID, t)
			}
		case r.Op == "ack" || r.Op == "nack":
			if r.Outcome == "ok" || (r.Outcome == "fail" && (r.Output.Error == "LEASE_EXPIRED" || r.Output.Error == "UNKNOWN_RECEIPT")) {
				earliest(b.gone, r.Input.Receipt, t)
			}
		}
	}
	return b
}

func (b infoBound) of(r record) (int64, bool) {
	switch r.Op {
	case "put":
		t, ok := b.shown[r.Input.MsgID]
		return t, ok
	case "consume":
		if r.Input.RequestID == nil {
			return 0, false
		}
		t, ok := b.answered[*r.Input.RequestID]
		return t, ok
	case "ack", "nack":
		t, ok := b.gone[r.Input.Receipt]
		return t, ok
	}
	return 0, false
}
