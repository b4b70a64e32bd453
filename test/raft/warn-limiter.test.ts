import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoggerPort } from '../../src/logger-port.js';
import { WarnLimiter } from '../../src/raft/warn-limiter.js';

test('at most `burst` warnings per window; the count held back rides on the next line logged', () => {
  const lines: object[] = [];
  const log: LoggerPort = { debug() {}, info() {}, error() {}, warn: (obj) => void lines.push(obj) };
  let now = 0;
  const limiter = new WarnLimiter(log, 3, 1000, () => now);
  for (let i = 0; i < 10; i++) limiter.warn({ i }, 'refused');
  assert.deepEqual(lines, [{ i: 0 }, { i: 1 }, { i: 2 }]);
  now = 999;
  limiter.warn({ i: 10 }, 'refused');
  assert.equal(lines.length, 3, 'still the same window');
  now = 1000;
  limiter.warn({ i: 11 }, 'refused');
  assert.deepEqual(lines[3], { i: 11, suppressedSinceLast: 8 });
  limiter.warn({ i: 12 }, 'refused');
  assert.deepEqual(lines[4], { i: 12 }, 'the count is reported once');
});
