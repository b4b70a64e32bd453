// V8 heap options every forge-mailbox node process starts with, whichever launcher starts it
// (bin/forge-mailbox, which the images and operators use, spells the same options out and a test
// holds the two together; the local cluster and the test clusters spawn with these).
//
// A larger young generation: the leader allocates per request (Zenoh frames, replies, log
// entries), and with V8's default 16 MiB semi-space it scavenged about 20 times a second under a
// 10k/s put load, objects of requests still in flight surviving into the old generation. At 3M
// queued messages over 1M mailboxes (bench:scale, docs/performance.md) 64 MiB cut the leader's
// scavenges from 5,343 to 1,360 in a run, their total time from 31 s to 16 s and the longest from
// 128 ms to 62 ms. It costs up to about 96 MiB more resident memory (two semi-spaces touched).
//
// Not a fixed old-generation growing factor (--heap-growing-percent=25, tried on 2026-12-05/06):
// it cut the leader's heap at 3M queued (RSS 1,505 → 1,089 MiB), but at 10M the leader's RSS
// was within a run's noise of V8's own factor (1,619 against 1,688 MiB), and puts fell by 9-40%
// (empty cluster 10.1-11.4k/s against 11.1-18.4k/s, p99 81-86 ms against 40-63, three runs each
// way; presumably more full collections while the heap is small; docs/performance.md, 2026-12-06).
export const NODE_HEAP_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
