// Time from `bt_ready` to `set_port` per protocol, against the real miniupnpd in network namespaces
// (test/fixtures/router.ts), beside a baseline measured in the same run on the same router:
//   NAT-PMP: bare NAT-PMP packets from a minimal client (one round trip: the floor for any client);
//   UPnP:    miniupnpc's `upnpc -u <description URL> -a …` (the C reference client, discovery skipped).
// warm = the router is known (the service found it at start), a bt_ready for a new port → set_port;
// cold = bt_ready sent the moment the service is ready, so router discovery is included.
// Targets (issue 5): NAT-PMP ≤ 50 ms, UPnP ≤ 300 ms. Needs root. Run: node dist/bench/nat-mapping.js
import { performance } from 'node:perf_hooks';
import { createNatNode, waitUntil, type NatNode } from '../test/fixtures/nat-node.js';
import { CLIENT_IP, findCommand, routerTestsUnavailable, type RouterOptions } from '../test/fixtures/router.js';

const WARM_RUNS = 20;
const COLD_RUNS = 3;

interface Case {
  name: string;
  router: RouterOptions;
  env: Record<string, string>;
  targetMs: number;
  baseline: (node: NatNode, port: number) => Promise<number[]>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function natpmpBaseline(node: NatNode, port: number): Promise<number[]> {
  const out = await node.router.runInClient([process.execPath, node.router.agent, 'natpmp', '10.77.0.1', String(port), String(WARM_RUNS)]);
  return JSON.parse(out) as number[];
}

async function upnpcBaseline(node: NatNode, port: number): Promise<number[]> {
  const upnpc = findCommand('upnpc');
  if (!upnpc) throw new Error('upnpc missing: apt-get install miniupnpc');
  const url = node.router.descriptionUrl();
  const times: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    const p = port + i;
    const started = performance.now();
    await node.router.runInClient([upnpc, '-u', url, '-i', '-e', 'baseline', '-a', CLIENT_IP, String(p), String(p), 'TCP', '600']);
    times.push(performance.now() - started);
    await node.router.runInClient([upnpc, '-u', url, '-i', '-d', String(p), 'TCP']);
  }
  return times;
}

/** Publishes bt_ready and times the set_port that follows. */
async function timeMapping(node: NatNode, port: number): Promise<number> {
  const mark = node.bus.mark();
  const started = performance.now();
  await node.bus.publish('bt_ready', [port]);
  await node.bus.waitFor('set_port', () => true, 10000, mark);
  return performance.now() - started;
}

async function measure(c: Case): Promise<{ cold: number[]; warm: number[]; baseline: number[] }> {
  const node = await createNatNode(c.router);
  try {
    const cold: number[] = [];
    let port = 42000;
    for (let i = 0; i < COLD_RUNS; i++) {
      const service = await node.start(c.env);
      cold.push(await timeMapping(node, port++));
      await node.bus.publish('exit');
      await service.exited;
    }
    await node.start(c.env);
    await waitUntil('the router found', async () => (await node.mapping())?.externalIp ?? undefined, 10000);
    const warm: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      warm.push(await timeMapping(node, port++));
      // The move removes the old mapping after set_port: let it finish, or the next run waits behind it.
      await waitUntil('the old mapping removed', () => (node.router.forwards().length === 1 ? true : undefined), 5000);
    }
    const baseline = await c.baseline(node, 43000);
    return { cold, warm, baseline };
  } finally {
    await node.close();
  }
}

const cases: Case[] = [
  { name: 'NAT-PMP', router: { natpmp: true, upnp: true }, env: { BITWEEN_UPNP: 'false' }, targetMs: 50, baseline: natpmpBaseline },
  { name: 'UPnP IGDv2', router: { natpmp: true, upnp: true, igd: 2 }, env: { BITWEEN_NATPMP: 'false' }, targetMs: 300, baseline: upnpcBaseline },
  { name: 'UPnP IGDv1', router: { natpmp: true, upnp: true, igd: 1 }, env: { BITWEEN_NATPMP: 'false' }, targetMs: 300, baseline: upnpcBaseline },
];

const unavailable = routerTestsUnavailable();
if (unavailable) {
  process.stderr.write(`nat-mapping benchmark cannot run: ${unavailable}\n`);
  process.exit(1);
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
console.log(`bt_ready → set_port, real miniupnpd 2.3.1 in network namespaces; medians (warm of ${WARM_RUNS}, cold of ${COLD_RUNS})`);
console.log('protocol     | warm      | cold (+discovery) | baseline  | warm/baseline | target | met');
let failed = false;
for (const c of cases) {
  const r = await measure(c);
  const warm = median(r.warm);
  const base = median(r.baseline);
  const met = warm <= c.targetMs;
  failed ||= !met;
  console.log(`${c.name.padEnd(12)} | ${fmt(warm).padEnd(9)} | ${fmt(median(r.cold)).padEnd(17)} | ${fmt(base).padEnd(9)} | ${(warm / base).toFixed(2).padStart(13)} | ${String(c.targetMs).padStart(3)} ms | ${met ? 'yes' : 'NO'}`);
}
console.log('baseline: NAT-PMP = one bare request/reply round trip; UPnP = `upnpc -u URL -a` process (description fetch + AddPortMapping + its own checks).');
process.exit(failed ? 1 : 0);
