// Do dormant torrents come back to nothing? A torrent service with N stored shares (all dormant after its start)
// wakes every one (a plaintext handshake each, bench/bt-probe.ts), lets them all go dormant again
// (BITWEEN_DORMANT_AFTER_MS=1000), and repeats. After each cycle a heap snapshot (the service's
// --heapsnapshot-signal; V8 runs a full GC first) gives the live heap and the object count, and RSS is read;
// at the end, which kinds of object grew from the first cycle to the last. Growth from cycle to cycle is a leak.
// Usage: npm run build && BENCH_TORRENTS=5000 BENCH_CYCLES=3 node --max-old-space-size=4096 dist/bench/dormant-cycles.js
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { REDIS_URL } from '../test/helpers/bus.js';
import { storeShares, writeShareFiles } from '../test/helpers/many-shares.js';
import { startService } from '../test/helpers/process.js';
import { createTorrentNode } from '../test/helpers/torrent-node.js';
import { waitAllFetchable } from './bt-probe.js';
import { procStatusBytes } from './proc-stats.js';
import { Redis } from 'ioredis';
import { readHeartbeat } from '../lib/heartbeat.js';

const COUNT = Number(process.env.BENCH_TORRENTS ?? 5000);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 4);
const AFTER_MS = 1000;
const NODE_TYPES = ['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native', 'synthetic', 'concatenated string', 'sliced string', 'symbol', 'bigint', 'object shape'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const node = await createTorrentNode('dcy', { BITWEEN_PEERS: 'any', BITWEEN_DORMANT_AFTER_MS: String(AFTER_MS), BITWEEN_LOG_LEVEL: 'info' });
const redis = new Redis(REDIS_URL);
try {
  const dir = join(node.dir, 'shares');
  const shares = await writeShareFiles(dir, COUNT, 16 * 1024);
  await storeShares(node.db.pool, dir, shares);
  const since = node.bus.mark();
  node.service = startService('torrent', node.env, { nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${node.dir}`] });
  node.port = Number((await node.bus.waitFor('bt_ready', () => true, 30000, since)).args[0]);
  const pid = node.service.child.pid!;
  const rss = async () => (await procStatusBytes(pid, 'VmRSS')) / 1048576;
  /** A heap snapshot (a full GC first): live heap bytes and how many objects of webtorrent's main classes. */
  let taken = 0;
  const counts: Map<string, number>[] = [];
  const snapshot = async () => {
    process.kill(pid, 'SIGUSR2');
    taken++;
    let file: string | undefined;
    for (let i = 0; i < 600; i++) {
      await sleep(200);
      const names = (await readdir(node.dir)).filter((n) => n.endsWith('.heapsnapshot')).sort();
      if (names.length < taken) continue;
      file = join(node.dir, names.at(-1)!);
      const a = (await stat(file)).size;
      await sleep(500);
      if ((await stat(file)).size === a && a > 0) break;
    }
    const snap = JSON.parse(await readFile(file!, 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[]; strings: string[] };
    const f = snap.snapshot.meta.node_fields;
    const width = f.length;
    const nameAt = f.indexOf('name');
    const sizeAt = f.indexOf('self_size');
    const typeAt = f.indexOf('type');
    let total = 0;
    const byName = new Map<string, number>();
    for (let i = 0; i < snap.nodes.length; i += width) {
      total += snap.nodes[i + sizeAt]!;
      // Objects by constructor name, everything else by V8's node type (strings, sliced strings, code …).
      const type = snap.nodes[i + typeAt]!;
      const name = type === 3 ? snap.strings[snap.nodes[i + nameAt]!]! : `(${NODE_TYPES[type] ?? type})`;
      byName.set(name, (byName.get(name) ?? 0) + 1);
    }
    counts.push(byName);
    return `heap ${(total / 1048576).toFixed(1)} MiB live, ${snap.nodes.length / width} objects`;
  };
  const dormant = async () => Number((await readHeartbeat(redis, node.namespace, 'torrent'))?.facts.dormant);
  const waitDormant = async (n: number) => {
    for (let i = 0; i < 600 && (await dormant()) !== n; i++) await sleep(100);
  };
  await waitDormant(COUNT);
  await sleep(3000);
  console.log(`start: ${COUNT} dormant, ${await snapshot()}, RSS ${(await rss()).toFixed(0)} MiB`);
  for (let c = 1; c <= CYCLES; c++) {
    const t0 = Date.now();
    await waitAllFetchable(() => node.port, shares, 600000, 16);
    const awake = `${((Date.now() - t0) / 1000).toFixed(1)} s to wake all, RSS ${(await rss()).toFixed(0)} MiB`;
    await waitDormant(COUNT);
    await sleep(3000);
    // RSS before the snapshot too: writing one makes V8 collect and allocate on its own.
    const rssDormant = await rss();
    console.log(`cycle ${c}: ${awake}; all dormant again: RSS ${rssDormant.toFixed(0)} MiB, ${await snapshot()}, RSS ${(await rss()).toFixed(0)} MiB`);
  }
  // What grew from the first cycle's end to the last's: the top ten by count.
  const first = counts[Math.min(1, counts.length - 1)]!;
  const last = counts.at(-1)!;
  const grew = [...last].map(([k, v]) => [k, v - (first.get(k) ?? 0)] as const).filter(([, d]) => d !== 0).sort((a, b) => b[1] - a[1]).slice(0, 12);
  console.log(`grew from cycle 1 to cycle ${CYCLES}: ${grew.map(([k, d]) => `${k} ${d > 0 ? '+' : ''}${d}`).join(', ')}`);
} finally {
  redis.disconnect();
  await node.cleanup();
}
