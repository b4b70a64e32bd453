// Length-prefixed framing: frames split anywhere arrive whole, and a bad length is refused from
// the header, before the body is buffered.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, ProtocolError } from '../../src/raft/frames.js';

test('a frame is a big-endian length, the kind byte and the body', () => {
  assert.deepEqual([...encodeFrame(6, Uint8Array.of(7, 8, 9))], [0, 0, 0, 4, 6, 7, 8, 9]);
  assert.deepEqual([...encodeFrame(4, new Uint8Array())], [0, 0, 0, 1, 4]);
});

test('frames cut at arbitrary points come out whole and in order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ kind: fc.integer({ min: 0, max: 255 }), body: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }),
      (frames, cuts) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f.kind, f.body)));
        const decoder = new FrameDecoder(1024);
        const out: Array<{ kind: number; body: number[] }> = [];
        for (let pos = 0, i = 0; pos < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          decoder.push(stream.subarray(pos, pos + n));
          pos += n;
          for (let f = decoder.next(); f !== null; f = decoder.next()) out.push({ kind: f.kind, body: [...f.body] });
        }
        assert.deepEqual(out, frames.map((f) => ({ kind: f.kind, body: [...f.body] })));
      },
    ),
  );
});

test('an empty or oversize frame is refused from its header; the bound can be raised later', () => {
  const empty = new FrameDecoder(16);
  empty.push(Buffer.from([0, 0, 0, 0]));
  assert.throws(() => empty.next(), (e: unknown) => e instanceof ProtocolError && e.message === 'empty frame');

  const big = new FrameDecoder(16);
  big.push(Buffer.from([0, 0, 0, 17])); // no body sent at all: the header alone is enough
  assert.throws(() => big.next(), (e: unknown) => e instanceof ProtocolError && e.message === 'frame of 17 bytes exceeds limit 16');

  const raised = new FrameDecoder(16);
  raised.max = 32;
  raised.push(encodeFrame(1, new Uint8Array(30)));
  assert.equal(raised.next()!.body.length, 30);
  assert.equal(raised.next(), null);
});
