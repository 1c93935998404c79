// XMPP ingest and latency benchmark (issue 4), through a real Prosody on loopback, in one run:
//   1. ingest: 1,000 contacts × 100 shares each have published; bob's xmpp service comes online and
//      stores all of them (PEP sends every contact's last item after bob's caps presence).
//      Baseline: a raw @xmpp/client session of bob receiving the same 1,000 notifications (delivery only),
//      and one bulk INSERT of 100,000 rows (the store's floor).
//   2. browse: the CLI's query (lib/store/browse.ts browseShares) over those 100,000 shares, by search term.
//      Baseline: a bare count(*) … ILIKE scan of the same table.
//   3. publish → stored: alice's xmpp service gets `publish_shares` with a new share; time until bob's
//      `shares_updated` arrives (bob's store is written before that event); a round starts once the
//      server has answered the one before. Baseline: raw PEP publish → raw notification between two
//      @xmpp/client sessions, the same way.
// Targets (issue 4): ingest ≤ 2 s, browse ≤ 50 ms, publish → stored p99 ≤ 50 ms.
// Usage: node dist/bench/xmpp-ingest.js [--contacts=N --shares=N --rounds=N]   (BENCH_VERBOSE=1: service logs; BENCH_CPU_PROF=<dir>: CPU profiles)
import { createHash, createHmac, pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';
import { writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Element } from '@xmpp/client';
import { browseShares } from '../lib/store/browse.js';
import { NODE_SHARES, buildUserShares, publishIq, type Share } from '../services/xmpp/wire.js';
import { startProsody, type Prosody } from '../test/fixtures/prosody.js';
import { pollUntil } from './child.js';
import { readProcStats } from './proc-stats.js';
import { startService, type ServiceProcess } from '../test/helpers/process.js';
import { createXmppNode, rawSession, waitForOutput, type RawSession, type XmppNode } from '../test/helpers/xmpp.js';

function option(flag: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${flag}=`));
  if (!arg) return fallback;
  const n = Number(arg.slice(flag.length + 3));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer`);
  return n;
}

const CONTACTS = option('contacts', 1000);
const SHARES = option('shares', 100);
const ROUNDS = option('rounds', 200);
const WORDS = ['holiday', 'music', 'thesis', 'photos', 'backup', 'video', 'linux', 'papers', 'garden', 'recipes', 'scans', 'games', 'maps', 'drafts', 'audio', 'books', 'slides', 'code', 'notes', 'misc'];
// BENCH_CPU_PROF=<dir>: bob's and alice's xmpp services write a V8 CPU profile there (bench/cpu-profile.ts).
const CPU_PROF = process.env.BENCH_CPU_PROF;
// BENCH_XMPP_NODE_ARGS='--a --b': node's own options for bob's xmpp service (V8 flags NODE_OPTIONS does not take).
const XMPP_NODE_ARGS = (process.env.BENCH_XMPP_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SERVICE_ENV: Record<string, string> = {
  BITWEEN_LOG_LEVEL: process.env.BITWEEN_LOG_LEVEL ?? 'info',
  ...(CPU_PROF ? { BENCH_CPU_PROF: CPU_PROF, NODE_OPTIONS: `--import=${fileURLToPath(new URL('./cpu-profile.js', import.meta.url))}` } : {}),
};

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!().catch((err) => process.stderr.write(`cleanup: ${(err as Error).message}\n`));
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const ms = (v: number) => `${v.toFixed(1)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

function contactShares(c: number): Share[] {
  return Array.from({ length: SHARES }, (_, j) => ({
    infoHash: randomBytes(20).toString('hex'),
    name: `c${c} ${WORDS[(c + j) % WORDS.length]} ${j}.mkv`,
    size: 1_000_000 + c * 1000 + j,
  }));
}

/** SCRAM-SHA-1 keys as Prosody's internal_hashed stores them (64 iterations, as the test config sets). */
function scramAccount(password: string): string {
  const salt = randomUUID();
  const salted = pbkdf2Sync(password, salt, 64, 20, 'sha1');
  const clientKey = createHmac('sha1', salted).update('Client Key').digest();
  const storedKey = createHash('sha1').update(clientKey).digest('hex');
  const serverKey = createHmac('sha1', salted).update('Server Key').digest('hex');
  return `return {\n\t["stored_key"] = "${storedKey}";\n\t["server_key"] = "${serverKey}";\n\t["salt"] = "${salt}";\n\t["iteration_count"] = 64;\n};\n`;
}

/** Accounts and rosters written as Prosody's file storage keeps them: 1,000 registrations in ms, not 25 s. */
async function writeAccounts(prosody: Prosody, users: string[], friendsOf: Map<string, string[]>): Promise<void> {
  const base = join(prosody.dir, 'data', prosody.domain);
  await mkdir(join(base, 'accounts'), { recursive: true });
  await mkdir(join(base, 'roster'), { recursive: true });
  for (const u of users) {
    await writeFile(join(base, 'accounts', `${u}.dat`), scramAccount(`pw-${u}`));
    const items = (friendsOf.get(u) ?? [])
      .map((f) => `\t["${f}@${prosody.domain}"] = {\n\t\t["subscription"] = "both";\n\t\t["groups"] = {};\n\t};\n`)
      .join('');
    await writeFile(join(base, 'roster', `${u}.dat`), `return {\n\t[false] = {\n\t\t["pending"] = {};\n\t\t["version"] = 1;\n\t};\n${items}};\n`);
  }
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function publishAsContact(prosody: Prosody, user: string, shares: Share[]): Promise<void> {
  const s = await rawSession(prosody, user, `pw-${user}`, { resource: 'seed' });
  try {
    await s.xmpp.iqCaller.request(publishIq(NODE_SHARES, buildUserShares([{ resource: 'home', shares, addresses: [{ address: '198.51.100.7', port: 51413 }] }])));
  } finally {
    await s.stop();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const prosody = await startProsody({ extraConfig: 'pep_service_cache_size = 2000\npep_info_cache_size = 20000' });
  cleanups.push(() => prosody.close());
  const contacts = Array.from({ length: CONTACTS }, (_, i) => `c${i}`);
  // pub and lis: the raw publish → notification baseline, an account pair of their own (a resource of bob
  // with +notify would first get all 1,000 contacts' items again and measure Prosody's backlog instead).
  const friends = new Map<string, string[]>([['bob', [...contacts, 'alice']], ['alice', ['bob']], ['pub', ['lis']], ['lis', ['pub']]]);
  for (const c of contacts) friends.set(c, ['bob']);
  await writeAccounts(prosody, ['bob', 'alice', 'pub', 'lis', ...contacts], friends);

  process.stdout.write(`setup: ${CONTACTS} contacts publish ${SHARES} shares each… `);
  await inBatches(contacts, 50, (c) => publishAsContact(prosody, c, contactShares(Number(c.slice(1)))));
  process.stdout.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

  // ---- 1. ingest ----
  // Baseline: delivery only, a raw session of bob counting notifications.
  const deliveries: number[] = [];
  const deliveryCpu: number[] = [];
  const prosodyCpu = async () => (await readProcStats(prosody.pid!)).cpuSeconds;
  for (let run = 0; run < 3; run++) {
    const raw = await rawSession(prosody, 'bob', 'pw-bob', { resource: `raw${run}`, notify: true });
    const cpu0 = await prosodyCpu();
    const t0 = performance.now();
    const seen = new Set<string>();
    await pollUntil(() => {
      for (const el of raw.stanzas.splice(0)) {
        if (el.is('message') && el.getChild('event')) seen.add(el.attrs.from!);
      }
      return seen.size >= CONTACTS;
    }, 60000, () => `raw delivery: ${seen.size}/${CONTACTS} notifications`);
    deliveries.push(performance.now() - t0);
    deliveryCpu.push((await prosodyCpu()) - cpu0);
    raw.xmpp.socket?.destroy(); // a clean close would wait behind the server's remaining output
    await raw.stop();
  }
  const delivery = Math.min(...deliveries);

  const bob: XmppNode = await createXmppNode(prosody, 'bob', { register: false, password: 'pw-bob', listenPort: 51413 });
  cleanups.push(() => bob.close());
  const floorTable = `bench_floor_${randomBytes(3).toString('hex')}`;
  await bob.db.pool.query(`CREATE TABLE ${floorTable} (LIKE contact_shares)`);
  const all = contacts.flatMap((c, i) => contactShares(i).map((s) => ({ jid: `${c}@localhost`, ...s })));
  const f0 = performance.now();
  await bob.db.pool.query(
    `INSERT INTO ${floorTable} (jid, resource, info_hash, name, size) SELECT j, 'home', h, n, s FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(j, h, n, s)`,
    [all.map((r) => r.jid), all.map((r) => r.infoHash), all.map((r) => r.name), all.map((r) => r.size)],
  );
  const dbFloor = performance.now() - f0;
  await bob.db.pool.query(`DROP TABLE ${floorTable}`);

  const stored = new Map<string, number>();
  let onlineAt = 0;
  const ingestCpu0 = await prosodyCpu();
  const proc: ServiceProcess = startService('xmpp', { ...bob.env, ...SERVICE_ENV }, { nodeArgs: XMPP_NODE_ARGS });
  bob.proc = proc;
  const total = CONTACTS * SHARES;
  proc.child.stdout!.on('data', () => {
    if (!onlineAt) {
      const line = proc.output.find((l) => l.includes('"XMPP online"'));
      if (line) onlineAt = JSON.parse(line).time;
    }
  });
  await pollUntil(() => {
    if (proc.child.exitCode !== null) throw new Error(`bob's xmpp service exited (${proc.child.exitCode}):\n${proc.output.slice(-10).join('\n')}`);
    for (const m of bob.bus.seen.splice(0)) if (m.topic === 'shares_updated') stored.set(String(m.args[0]), Date.now());
    return stored.size >= CONTACTS;
  }, 120000, () => `ingest: ${stored.size}/${CONTACTS} contacts stored after 120 s`);
  const ingest = Math.max(...stored.values()) - onlineAt;
  const ingestProsodyCpu = (await prosodyCpu()) - ingestCpu0;
  // BENCH_VERBOSE: bob's log of the ingest (one line per contact stored, with writeMs) for a closer look.
  if (process.env.BENCH_VERBOSE) await writeFile(join(tmpdir(), 'bitween-bench-xmpp-bob.log'), proc.output.join('\n'));
  const bobCpu = (await readProcStats(proc.child.pid!)).cpuSeconds;
  const { rows } = await bob.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM contact_shares`);
  if (rows[0]!.n !== total) throw new Error(`store holds ${rows[0]!.n} shares, expected ${total}`);

  // ---- 2. browse ----
  await bob.db.pool.query('ANALYZE');
  const browse: Record<string, number[]> = {};
  const scan: number[] = [];
  const terms = { 'one word, 5% of rows ("holiday")': 'holiday', 'rare ("c777 holiday")': 'c777 holiday', 'no match ("zzz")': 'zzz' };
  for (const [label, term] of Object.entries(terms)) {
    browse[label] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await browseShares(bob.db.pool, term);
      browse[label]!.push(performance.now() - t0);
    }
  }
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await bob.db.pool.query(`SELECT count(*) FROM contact_shares WHERE name ILIKE '%holiday%'`);
    scan.push(performance.now() - t0);
  }

  // ---- 3. publish → stored ----
  // Baseline: raw PEP publish → raw notification (Prosody and the sockets, nothing else).
  const pub: RawSession = await rawSession(prosody, 'pub', 'pw-pub', { resource: 'bench' });
  const listener = await rawSession(prosody, 'lis', 'pw-lis', { resource: 'listener', notify: true });
  cleanups.push(() => pub.stop(), () => listener.stop());
  const rawLatency: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // the same item sizes as alice's rounds below: i + 1 shares
    const shares = Array.from({ length: i + 1 }, (_, j) => ({ infoHash: randomBytes(20).toString('hex'), name: `raw ${j}`, size: j }));
    const marker = shares[i]!.infoHash;
    const got = listener.waitFor((el: Element) => el.is('message') && el.toString().includes(marker), 10000);
    const t0 = performance.now();
    const reply = pub.xmpp.iqCaller.request(publishIq(NODE_SHARES, buildUserShares([{ resource: 'r', shares, addresses: [] }])));
    await got;
    rawLatency.push(performance.now() - t0);
    await reply;
  }
  await listener.stop();

  const alice: XmppNode = await createXmppNode(prosody, 'alice', { register: false, password: 'pw-alice', listenPort: 51414 });
  cleanups.push(() => alice.close());
  await alice.start(SERVICE_ENV);
  const latency: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await alice.addShares([{ infoHash: randomBytes(20).toString('hex'), name: `alice ${i}`, size: i }]);
    const since = bob.bus.seen.length;
    const got = bob.bus.waitFor('shares_updated', (m) => m.args[0] === alice.jid, 10000, since);
    const lines = alice.proc!.output.length;
    const t0 = performance.now();
    await alice.bus.publish('publish_shares');
    await got;
    latency.push(performance.now() - t0);
    // Like the raw rounds (which await the reply): the next round starts once the server has answered this
    // publish. Prosody answers only after writing the item to its storage, tens of ms after notifying, and
    // handles one session's stanzas in order: a publish sent earlier would measure that queue, not latency.
    await waitForOutput(alice.proc!, /shares published/, lines, 10000);
  }
  const aliceRows = await bob.db.pool.query(`SELECT count(*)::int AS n FROM contact_shares WHERE jid = $1`, [alice.jid]);
  if (aliceRows.rows[0].n !== ROUNDS) throw new Error(`bob holds ${aliceRows.rows[0].n} of alice's shares, expected ${ROUNDS}`);

  if (process.env.BENCH_VERBOSE) {
    process.stderr.write(`--- latency per round (ms): ${latency.map((v) => v.toFixed(0)).join(' ')}\n--- raw per round (ms): ${rawLatency.map((v) => v.toFixed(0)).join(' ')}\n`);
    for (const [who, node] of [['alice', alice], ['bob', bob]] as const) process.stderr.write(`--- ${who}\n${node.proc!.output.slice(-30).join('\n')}\n`);
  }

  // ---- report ----
  const lines = [
    '',
    `XMPP ingest and latency (Prosody 0.12 on loopback, ${CONTACTS} contacts × ${SHARES} shares, 2 cores)`,
    '',
    `ingest of ${total.toLocaleString('en')} shares, bob online → all stored: ${ms(ingest)}   (target ≤ 2000 ms)`,
    `  CPU: Prosody ${ingestProsodyCpu.toFixed(2)} s, bob's xmpp service ${bobCpu.toFixed(2)} s (whole process, start included)`,
    `  baseline: raw delivery of the ${CONTACTS} notifications to a bare client: ${ms(delivery)} (Prosody CPU ${Math.min(...deliveryCpu).toFixed(2)} s) → ${ratio(ingest, delivery)}`,
    `  baseline: one bulk INSERT of ${total.toLocaleString('en')} rows: ${ms(dbFloor)} → ${ratio(ingest, dbFloor)}`,
    '',
    'browse (lib/store/browse.ts browseShares), median / p99 of 20:   (target ≤ 50 ms)',
    ...Object.entries(browse).map(([label, v]) => `  ${label}: ${ms(percentile(v, 50))} / ${ms(percentile(v, 99))} → ${ratio(percentile(v, 50), percentile(scan, 50))} of a bare ILIKE count (${ms(percentile(scan, 50))})`),
    '',
    `publish_shares on alice → bob's shares_updated (store written), ${ROUNDS} rounds:   (target p99 ≤ 50 ms)`,
    `  p50 ${ms(percentile(latency, 50))}, p99 ${ms(percentile(latency, 99))}, max ${ms(Math.max(...latency))}`,
    `  baseline: raw PEP publish → raw notification: p50 ${ms(percentile(rawLatency, 50))}, p99 ${ms(percentile(rawLatency, 99))} → p50 ${ratio(percentile(latency, 50), percentile(rawLatency, 50))}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

try {
  await main();
} catch (err) {
  process.stderr.write(`xmpp-ingest benchmark failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
