// One whole node for the fuzz test and bench: the torrent, xmpp (logged in to a test Prosody), nat (mapping
// off) and web services as real processes, one namespace, one database; a bus view that keeps `error`
// reports and a few events only (the fuzz publishes hundreds of MiB: a view that kept every message would
// hold them all). Everything is removed by close(), also after a failed start.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { ErrorReport } from '../../lib/errors.js';
import { readHeartbeat, type Heartbeat } from '../../lib/heartbeat.js';
import { RELAYED_TOPICS } from '../../services/web/relay.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { REDIS_URL, newNamespace } from '../helpers/bus.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { waitForHeartbeat } from '../helpers/heartbeat.js';
import { startServiceReady, type ServiceProcess } from '../helpers/process.js';
import { startWeb, type WebService } from '../helpers/web.js';

export const SERVICES = ['torrent', 'xmpp', 'nat', 'web'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface Received {
  topic: string;
  /** Size as received, bytes. */
  bytes: number;
  /** The text (of `error`: its first 64 KiB; of other topics: its first 4 KiB). */
  raw: string;
  /** Published by this view itself (the fuzz of the `error` topic), not by a service. */
  own: boolean;
}

export interface FuzzNode {
  namespace: string;
  env: Record<string, string>;
  procs: Record<ServiceName, ServiceProcess>;
  web: WebService;
  /** The topics each service takes from the bus (web: the ones its event stream relays). */
  topics: Record<ServiceName, string[]>;
  /** Every `error` report and kept event since start, in arrival order. */
  received: Received[];
  /** Resolves with the first message after index `since` matching; rejects after timeoutMs. */
  waitFor(topic: string, match: (m: Received) => boolean, timeoutMs: number, since?: number): Promise<Received>;
  publish(topic: string, payload: string | Buffer): Promise<void>;
  /**
   * Sends a bad request carrying `tag` on `topic` and resolves with `service`'s report of it. Handled in arrival
   * order, that report says everything published before it was handled too. One refused with E_BUSY (the queue
   * still full) is sent again 200 ms later, up to SENTINEL_RESENDS times; then that last report is returned.
   * `timeoutMs`: how long to wait for each report.
   */
  sentinel(service: ServiceName, topic: string, tag: string, timeoutMs: number): Promise<ErrorReport>;
  heartbeat(service: ServiceName): Promise<Heartbeat | undefined>;
  /** A valid file shared by the torrent service (for a request that must still be answered). */
  sharedHash: string;
  close(): Promise<void>;
}

/** How often a sentinel refused with E_BUSY is sent again (200 ms apart) before its refusal is returned. */
const SENTINEL_RESENDS = 50;

/** Events the view keeps besides `error`: the answers the checks wait for. */
const KEPT = ['torrent_added', 'bt_ready'];

/** The topics a service logged as subscribed in its `ready` line (without `exit`, which would stop it). */
function subscribedTopics(proc: ServiceProcess, name: string): string[] {
  const line = proc.output.find((l) => l.includes(`bitween-${name} ready`));
  const topics = line ? (JSON.parse(line) as { topics?: unknown }).topics : undefined;
  if (!Array.isArray(topics)) throw new Error(`bitween-${name} did not log its topics: ${line}`);
  return topics.filter((t): t is string => typeof t === 'string' && t !== 'exit');
}

/**
 * `env`: more variables for every service (e.g. NODE_OPTIONS for heap snapshots); `nodeArgs`: node's own options
 * per service (the bench gives each the node_args of ecosystem.config.js).
 */
export async function startFuzzNode(options: { logLevel?: string; env?: Record<string, string>; nodeArgs?: Partial<Record<ServiceName, string[]>> } = {}): Promise<FuzzNode> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
  };
  try {
    const namespace = newNamespace('fz');
    const db: TestDatabase = await createTestDatabase();
    cleanups.push(() => db.drop());
    const dir = await mkdtemp(join(tmpdir(), 'bitween-fuzz-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const prosody: Prosody = await startProsody();
    cleanups.push(() => prosody.close());
    await prosody.register('fuzz', 'pw-fuzz');

    const sub = new Redis(REDIS_URL);
    const pub = new Redis(REDIS_URL);
    cleanups.push(async () => {
      sub.disconnect();
      pub.disconnect();
    });
    const received: Received[] = [];
    const waiters = new Set<() => void>();
    // What this view publishes on `error` itself, to tell it from the services' reports.
    const ownErrors = new Map<string, number>();
    const keyOf = (b: Buffer) => `${b.length}:${b.subarray(0, 256).toString('hex')}`;
    sub.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
      const topic = channel.toString().slice(namespace.length + 1);
      let own = false;
      if (topic === 'error') {
        const key = keyOf(payload);
        const n = ownErrors.get(key) ?? 0;
        own = n > 0;
        if (n > 1) ownErrors.set(key, n - 1);
        else ownErrors.delete(key);
      }
      received.push({ topic, bytes: payload.length, raw: payload.subarray(0, topic === 'error' ? 64 * 1024 : 4096).toString(), own });
      for (const w of [...waiters]) w();
    });
    await sub.subscribe(...['error', ...KEPT].map((t) => `${namespace}:${t}`));

    const env: Record<string, string> = {
      BITWEEN_NAMESPACE: namespace,
      BITWEEN_DATABASE_URL: db.url,
      BITWEEN_REDIS_URL: REDIS_URL,
      BITWEEN_SAVE_PATH: join(dir, 'downloads'),
      BITWEEN_SHARE_ROOTS: dir,
      BITWEEN_ALLOW_LOOPBACK: 'true',
      BITWEEN_IPV6: 'false',
      BITWEEN_UPNP: 'false',
      BITWEEN_NATPMP: 'false',
      BITWEEN_LOG_LEVEL: options.logLevel ?? 'info',
      BITWEEN_JID: `fuzz@${prosody.domain}/fuzz`,
      BITWEEN_PASSWORD: 'pw-fuzz',
      BITWEEN_XMPP_SERVICE: prosody.service,
      ...options.env,
    };
    const procs = {} as Record<ServiceName, ServiceProcess>;
    for (const name of ['torrent', 'nat', 'xmpp'] as const) {
      procs[name] = await startServiceReady(name, env, { nodeArgs: options.nodeArgs?.[name] });
      cleanups.push(() => procs[name].stop());
    }
    // Logged in and published (its heartbeat says so at once, whatever the log level).
    const xmppPid = procs.xmpp.child.pid;
    await waitForHeartbeat(pub, namespace, 'xmpp', (hb) => hb.pid === xmppPid && hb.facts.published != null, 30000);
    const web = await startWeb(env, { nodeArgs: options.nodeArgs?.web });
    procs.web = web.service;
    cleanups.push(() => web.service.stop());

    const node: FuzzNode = {
      namespace,
      env,
      procs,
      web,
      topics: {
        torrent: subscribedTopics(procs.torrent, 'torrent'),
        xmpp: subscribedTopics(procs.xmpp, 'xmpp'),
        nat: subscribedTopics(procs.nat, 'nat'),
        web: [...RELAYED_TOPICS],
      },
      received,
      waitFor(topic, match, timeoutMs, since = 0) {
        return new Promise((resolve, reject) => {
          let checked = since;
          const check = () => {
            for (; checked < received.length; checked++) {
              const m = received[checked]!;
              if (m.topic === topic && match(m)) {
                done();
                resolve(m);
                return;
              }
            }
          };
          const timer = setTimeout(() => {
            done();
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${topic}; last: ${received.slice(-3).map((m) => `${m.topic} ${m.raw.slice(0, 200)}`).join(' | ')}`));
          }, timeoutMs);
          const done = () => {
            clearTimeout(timer);
            waiters.delete(check);
          };
          waiters.add(check);
          check();
        });
      },
      async publish(topic, payload) {
        if (topic === 'error') {
          const key = keyOf(Buffer.from(payload));
          ownErrors.set(key, (ownErrors.get(key) ?? 0) + 1);
        }
        await pub.publish(`${namespace}:${topic}`, payload);
      },
      async sentinel(service, topic, tag, timeoutMs) {
        for (let resent = 0; ; resent++) {
          const sentAt = received.length;
          await node.publish(topic, JSON.stringify([tag]));
          const m = await node.waitFor('error', (x) => !x.own && x.raw.includes(tag) && (JSON.parse(x.raw) as ErrorReport).service === service, timeoutMs, sentAt);
          const report = JSON.parse(m.raw) as ErrorReport;
          if (report.code !== 'E_BUSY' || resent === SENTINEL_RESENDS) return report;
          await new Promise((r) => setTimeout(r, 200));
        }
      },
      heartbeat: (service) => readHeartbeat(pub, namespace, service),
      sharedHash: '',
      close,
    };

    const file = join(dir, 'keep.bin');
    await writeFile(file, Buffer.alloc(100_000, 7));
    const since = received.length;
    await node.publish('generate_torrent', JSON.stringify([file]));
    const added = await node.waitFor('torrent_added', () => true, 30000, since);
    node.sharedHash = String((JSON.parse(added.raw) as { args: unknown[] }).args[0]);
    return node;
  } catch (err) {
    await close();
    throw err;
  }
}
