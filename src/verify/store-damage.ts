// Damage to a stopped node's store, for the tests and the chaos runner: one flipped bit in one
// LevelDB value, as a bad disk or a bug would leave it (a value LevelDB itself reads back
// without complaint). What LevelStorage's checksums must catch before the node serves anything.

import { Level } from 'level';

/**
 * Flips one bit in the middle of the first value whose key starts with `keyPrefix` (`d/`: snapshot
 * data, `g/`: log segments, `s`: the snapshot record) in the LevelDB at `storeDir`. Returns the key
 * damaged, or null when there is none (no snapshot yet, say). The node must be stopped.
 */
export async function flipStoredBit(storeDir: string, keyPrefix: string): Promise<string | null> {
  const db = new Level<string, Uint8Array>(storeDir, { keyEncoding: 'utf8', valueEncoding: 'view', createIfMissing: false });
  await db.open();
  try {
    const [entry] = await db.iterator({ gte: keyPrefix, limit: 1 }).all();
    if (entry === undefined || !entry[0].startsWith(keyPrefix) || entry[1].length === 0) return null;
    const [key, stored] = entry;
    const value = stored.slice();
    value[value.length >> 1]! ^= 0x10;
    await db.put(key, value, { sync: true });
    return key;
  } finally {
    await db.close();
  }
}
