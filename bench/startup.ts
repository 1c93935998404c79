// Restart cost in isolation (issue 14.4): spawn → `bt_ready` of the torrent service alone, with N stored shares,
// run after run, so that a change to what happens before `bt_ready` can be measured in a minute. The footprint
// bench (bench/footprint.ts) measures the same start inside a whole node, with Transmission beside it.
//
//   node dist/bench/startup.js                       # 5,000 shares, 7 starts
//   BENCH_COUNT=1000 BENCH_RUNS=5 node dist/bench/startup.js
//   BENCH_B_NODE_OPTIONS='--no-opt' node dist/bench/startup.js   # A/B: every other start with these NODE_OPTIONS
//   BENCH_B_ENV='{"NODE_COMPILE_CACHE":"/tmp/c"}' node dist/bench/startup.js   # … or with this environment
//   BENCH_B_NODE_ARGS='--min-semi-space-size=4' node dist/bench/startup.js    # … or with these node options added
import { join } from 'node:path';
import { ecosystemApp } from './ecosystem.js';
import { createTorrentNode } from '../test/helpers/torrent-node.js';
import { storeShares, writeShareFiles } from '../test/helpers/many-shares.js';
import { startService } from '../test/helpers/process.js';

const count = Number(process.env.BENCH_COUNT ?? 5000);
const runs = Number(process.env.BENCH_RUNS ?? 7);
const optionsB = process.env.BENCH_B_NODE_OPTIONS;
const envB: Record<string, string> = { ...(JSON.parse(process.env.BENCH_B_ENV ?? '{}') as Record<string, string>), ...(optionsB ? { NODE_OPTIONS: optionsB } : {}) };
const argsB = process.env.BENCH_B_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const variantB = Object.keys(envB).length > 0 || argsB.length > 0 ? JSON.stringify({ ...envB, nodeArgs: argsB }) : undefined;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const node = await createTorrentNode('startup', { BITWEEN_LOG_LEVEL: 'info' });
try {
  const app = await ecosystemApp('torrent');
  const dir = join(node.dir, 'shares');
  process.stderr.write(`writing ${count} shares …\n`);
  await storeShares(node.db.pool, dir, await writeShareFiles(dir, count, 16 * 1024));
  const times: Record<string, number[]> = { A: [], B: [] };
  // One start first, not counted: the files, the modules and the rows are then in the page cache for every run.
  for (let run = -1; run < runs * (variantB ? 2 : 1); run++) {
    const variant = variantB && run % 2 === 1 ? 'B' : 'A';
    const since = node.bus.mark();
    const started = performance.now();
    const env = { ...node.env, ...app.env, ...(variant === 'B' ? envB : {}) };
    const proc = startService('torrent', env, { nodeArgs: [...app.nodeArgs, ...(variant === 'B' ? argsB : [])] });
    try {
      await node.bus.waitFor('bt_ready', () => true, 30000, since);
      const ms = performance.now() - started;
      if (run >= 0) times[variant]!.push(ms);
      // Let the restore finish so that the stop measures nothing half done.
      await proc.waitForLine(/torrents restored/, 30000);
      // The service's own account: when it published bt_ready (since the process started), and how long the list took.
      const listening = proc.output.find((l) => l.includes('listening for peers'));
      const own = listening ? (JSON.parse(listening) as { uptimeMs?: number; listedMs?: number }) : {};
      process.stderr.write(`${run < 0 ? 'warm-up' : `run ${run + 1}`} ${variant}: spawn → bt_ready ${ms.toFixed(0)} ms (service: bt_ready ${own.uptimeMs} ms after its start, then the list read in ${own.listedMs} ms)\n`);
    } finally {
      await proc.stop();
    }
  }
  const line = (v: string) => `${v}: median ${median(times[v]!).toFixed(0)} ms (runs ${times[v]!.map((t) => t.toFixed(0)).join(' ')})`;
  console.log(`torrent service, ${count} stored shares, spawn → bt_ready (Node ${process.version} runs this bench; the service runs ${process.execPath})`);
  console.log(line('A'));
  if (variantB) console.log(`${line('B')} with ${variantB}; B/A ${(median(times.B!) / median(times.A!)).toFixed(2)}×`);
} finally {
  await node.cleanup();
}
