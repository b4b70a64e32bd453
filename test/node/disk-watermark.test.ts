// The free-space watermark: measured at start and periodically (never per request), refusing puts
// with NOSPACE below it and accepting them again above it; a failed measure keeps the verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceErrorToBody } from '../../src/bridge/mailbox-service.js';
import { createLogger } from '../../src/logging.js';
import { toServiceError } from '../../src/node/bridge-port.js';
import { DiskSpaceError, DiskWatermark } from '../../src/node/disk-watermark.js';

const log = createLogger({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('puts are refused with NOSPACE while free space is below the watermark, and admitted again above it', async () => {
  let free = 5000;
  let measures = 0;
  let failing = false;
  const w = new DiskWatermark({
    dir: '/data',
    minFreeBytes: 1000,
    checkIntervalMs: 100,
    log,
    freeBytes: async () => {
      measures++;
      if (failing) throw new Error('EIO');
      return free;
    },
  });
  await w.start();
  try {
    assert.equal(measures, 1, 'measured once at start');
    w.admitPut();
    for (let i = 0; i < 100; i++) w.admitPut();
    assert.equal(measures, 1, 'not measured per request');
    free = 999;
    await sleep(250);
    assert.throws(() => w.admitPut(), (e: unknown) => e instanceof DiskSpaceError && /999 bytes free/.test(e.message));
    assert.deepEqual(w.status(), { freeBytes: 999, minFreeBytes: 1000, low: true });
    const body = serviceErrorToBody(toServiceError(new DiskSpaceError('low')));
    assert.deepEqual(body, { code: 'NOSPACE', message: 'low' }, 'clients see NOSPACE');
    failing = true;
    await sleep(250);
    assert.throws(() => w.admitPut(), DiskSpaceError, 'a failed measure keeps the last verdict');
    failing = false;
    free = 1000;
    await sleep(250);
    w.admitPut();
  } finally {
    w.stop();
  }
});

test('the default measure is statfs of the data directory; a watermark of 0 never measures', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'watermark-'));
  try {
    const w = new DiskWatermark({ dir, minFreeBytes: 1, checkIntervalMs: 1000, log });
    await w.start();
    w.stop();
    assert.ok((w.status().freeBytes ?? 0) > 0, 'real free space measured');
    const off = new DiskWatermark({ dir, minFreeBytes: 0, checkIntervalMs: 1000, log, freeBytes: async () => assert.fail('measured') });
    await off.start();
    off.admitPut();
    off.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
