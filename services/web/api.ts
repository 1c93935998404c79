// The JSON API behind the page. Reads come from the store and heartbeats; actions are published on the bus
// as the CLI and redis-cli would, answered 202 with the exact payload sent, so the page can match an
// `error` report that echoes it. Outcomes arrive as bus events on /api/events.
import { isAbsolute } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { requireBareJid } from '../../cli/contacts.js';
import { encodePayload, type Bus } from '../../lib/bus.js';
import { BadInputError, NotFoundError, UnavailableError } from '../../lib/errors.js';
import { readHeartbeat } from '../../lib/heartbeat.js';
import { startHint } from '../../lib/hints.js';
import { browseShares, listRoster } from '../../lib/store/browse.js';
import { redact } from '../../lib/store/pool.js';
import { getContact } from '../../lib/store/contacts.js';
import { StateKey, type NatMappingState } from '../../lib/store/state.js';
import { getTorrent, listTorrents, type TorrentRow } from '../../lib/store/torrents.js';
import { isPort, requireInfoHash, requireString } from '../../lib/validate.js';
import type { Relay } from './relay.js';
import { readDashboardStatus } from './status.js';

export interface ApiContext {
  redisUrl: string;
  db: pg.Pool;
  bus: Bus;
  relay: Relay;
  /** BITWEEN_JID as configured (the node panel shows it while the xmpp service says nothing itself). */
  jid?: string;
}

/** An own torrent as the page shows it (no .torrent file or bitfield). */
export interface TorrentView {
  infoHash: string;
  /** null until the metadata arrived from a peer */
  name: string | null;
  size: number | null;
  bytesDone: number;
  /** 0..1, null while the size is unknown */
  progress: number | null;
  status: TorrentRow['status'];
  /** Why it is in error / missing / changed state (a stable code and one line); null otherwise. */
  errorCode: string | null;
  errorReason: string | null;
  origin: TorrentRow['origin'];
  /** Paused by the user (`pause`): out of the session until `resume`; status is kept. */
  paused: boolean;
  savePath: string;
  addedAt: string;
  completedAt: string | null;
}

export function torrentView(row: TorrentRow): TorrentView {
  const size = row.totalSize;
  return {
    infoHash: row.infoHash,
    name: row.name,
    size,
    bytesDone: row.bytesDone,
    progress: row.status === 'seeding' ? 1 : size ? Math.min(1, row.bytesDone / size) : size === 0 ? 1 : null,
    status: row.status,
    errorCode: row.errorCode ?? null,
    errorReason: row.errorReason ?? null,
    origin: row.origin,
    paused: row.paused ?? false,
    savePath: row.savePath,
    addedAt: row.addedAt.toISOString(),
    completedAt: row.completedAt?.toISOString() ?? null,
  };
}

/** Longest search the page may send; the store splits it into words. */
const MAX_QUERY = 200;

/** Highest rate limit accepted (1 TiB/s): anything above is a typo, not a limit. */
const MAX_LIMIT = 2 ** 40;

/** What the node panel shows: who we are on XMPP, where peers reach us, and how the services fare. */
export interface NodeView {
  /** Bare JID (from the xmpp service's heartbeat, else BITWEEN_JID); null when no account is configured. */
  jid: string | null;
  /** The xmpp service: running, logged in, and its connection phase, as far as its heartbeat says. */
  xmpp: { up: boolean; connected: boolean | null; state: string | null };
  /** BitTorrent listen port (node_state torrent.listen_port). */
  listenPort: number | null;
  /** The NAT service's mapping state (node_state nat.mapping), null before it ran. */
  mapping: NatMappingState | null;
  /** Own addresses as the NAT service found them (node_state nat.addresses). */
  addresses: string[];
  /** Addresses × ports the xmpp service published to contacts, when its heartbeat says (null otherwise). */
  published: { address: string; port: number }[] | null;
  /** Effective rate limits (node_state torrent.limits once set, else the torrent heartbeat's), B/s, 0 = none. */
  limits: { upload: number; download: number } | null;
}

const record = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Node facts from node_state (one round trip) and the xmpp and torrent heartbeats; any may be missing. */
export async function readNodeView(db: pg.Pool, bus: Bus, configuredJid: string | undefined): Promise<NodeView> {
  const keys = [StateKey.torrentPort, StateKey.mapping, StateKey.addresses, StateKey.torrentLimits];
  const { rows } = await db.query<{ key: string; value: unknown }>(`SELECT key, value FROM node_state WHERE key = ANY($1::text[])`, [keys]);
  const state = (k: string) => record(rows.find((r) => r.key === k)?.value);
  const [xmpp, torrent] = await Promise.all([readHeartbeat(bus.redis, bus.namespace, 'xmpp'), readHeartbeat(bus.redis, bus.namespace, 'torrent')]);
  const xf = record(xmpp?.facts) ?? {};
  const tf = record(torrent?.facts) ?? {};
  const listen = state(StateKey.torrentPort)?.port ?? tf.port;
  const addresses = state(StateKey.addresses)?.addresses;
  const published = Array.isArray(xf.published) ? xf.published : Array.isArray(xf.addresses) ? xf.addresses : null;
  // Stored limits win over the config's from the first set_limits on; the heartbeat may be 2 s old.
  const limits = state(StateKey.torrentLimits) ?? record(tf.limits);
  const jid = typeof xf.jid === 'string' ? xf.jid : configuredJid;
  return {
    jid: jid ? jid.split('/')[0]! : null,
    xmpp: {
      up: xmpp !== undefined,
      // `connection` (services/xmpp/health.ts): online, connecting, auth failed, login refused.
      connected: typeof xf.connection === 'string' ? xf.connection === 'online' : typeof xf.connected === 'boolean' ? xf.connected : null,
      state: typeof xf.connection === 'string' ? xf.connection : null,
    },
    listenPort: isPort(listen) ? listen : null,
    mapping: (state(StateKey.mapping) as NatMappingState | undefined) ?? null,
    addresses: Array.isArray(addresses) ? addresses.filter((a): a is string => typeof a === 'string') : [],
    published: published
      ? published.flatMap((p) => {
          const a = record(p);
          return a && typeof a.address === 'string' && isPort(a.port) ? [{ address: a.address, port: a.port }] : [];
        })
      : null,
    limits: limits && typeof limits.upload === 'number' && typeof limits.download === 'number' ? { upload: limits.upload, download: limits.download } : null,
  };
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadInputError('the request body must be a JSON object');
  return body as Record<string, unknown>;
}

export function registerApi(app: FastifyInstance, { db, bus, relay, redisUrl, jid }: ApiContext): void {
  /** The service's Redis connection waits out outages; a request must not hang meanwhile. */
  function requireRedis(): void {
    if (bus.redis.status !== 'ready') throw new UnavailableError(`cannot reach Redis at ${redact(redisUrl)}: is redis-server running?`);
  }

  /** Publishes to a service that is up; says how to start it otherwise (a message nobody hears is lost). */
  async function send(service: string, topic: string, args: unknown[]) {
    requireRedis();
    const hint = startHint(service);
    if (!(await readHeartbeat(bus.redis, bus.namespace, service))) throw new UnavailableError(`the ${service} service is not running: ${hint}`);
    const payload = encodePayload(args);
    const receivers = await bus.redis.publish(bus.channel(topic), payload);
    if (receivers === 0) throw new UnavailableError(`nothing listens on ${bus.channel(topic)}: ${hint}`);
    return { accepted: true, topic, payload };
  }

  app.get('/api/torrents', async () => (await listTorrents(db)).map(torrentView));

  app.get<{ Querystring: { q?: unknown } }>('/api/shares', async (req) => {
    const q = req.query.q;
    if (q !== undefined && typeof q !== 'string') throw new BadInputError('q must be given once');
    if (q !== undefined && q.length > MAX_QUERY) throw new BadInputError(`the search is longer than ${MAX_QUERY} characters`);
    return browseShares(db, q);
  });

  app.get('/api/status', () => {
    requireRedis();
    return readDashboardStatus(bus.redis, bus.namespace, db);
  });

  app.get('/api/contacts', async () => listRoster(db));

  app.get('/api/node', () => {
    requireRedis();
    return readNodeView(db, bus, jid);
  });

  app.get('/api/events', (req, reply) => {
    reply.hijack();
    relay.add(reply.raw);
  });

  app.post('/api/share', async (req, reply) => {
    const path = requireString(bodyObject(req.body).path, 'path');
    // The torrent service may run on another host: whether the path exists is its to say (an `error` event).
    if (!isAbsolute(path)) throw new BadInputError(`the path must be absolute (as the torrent service's host sees it), got ${JSON.stringify(path)}`);
    req.log.info({ path }, 'share requested');
    return reply.code(202).send(await send('torrent', 'generate_torrent', [path]));
  });

  app.post('/api/get', async (req, reply) => {
    const infoHash = requireInfoHash(bodyObject(req.body).hash);
    req.log.info({ infoHash }, 'download requested');
    return reply.code(202).send(await send('torrent', 'add_hash', [infoHash]));
  });

  app.post('/api/remove', async (req, reply) => {
    const body = bodyObject(req.body);
    const infoHash = requireInfoHash(body.hash);
    const deleteFiles = body.deleteFiles ?? false;
    if (typeof deleteFiles !== 'boolean') throw new BadInputError(`deleteFiles must be true or false, got ${JSON.stringify(deleteFiles)}`);
    if (!(await getTorrent(db, infoHash))) throw new NotFoundError(`no own torrent has the info-hash ${infoHash}`);
    req.log.info({ infoHash, deleteFiles }, 'removal requested');
    return reply.code(202).send(await send('torrent', 'del_torrent', [infoHash, { delete_files: deleteFiles }]));
  });

  /** Verify what is on disk, then seed or continue: the outcome comes as torrent_added or torrent_error. */
  app.post('/api/recheck', async (req, reply) => {
    const infoHash = requireInfoHash(bodyObject(req.body).hash);
    if (!(await getTorrent(db, infoHash))) throw new NotFoundError(`no own torrent has the info-hash ${infoHash}`);
    req.log.info({ infoHash }, 'recheck requested');
    return reply.code(202).send(await send('torrent', 'recheck', [infoHash]));
  });

  /** Pause / resume one own torrent: answered by torrent_paused / torrent_resumed. */
  for (const topic of ['pause', 'resume'] as const) {
    app.post(`/api/${topic}`, async (req, reply) => {
      const infoHash = requireInfoHash(bodyObject(req.body).hash);
      if (!(await getTorrent(db, infoHash))) throw new NotFoundError(`no own torrent has the info-hash ${infoHash}`);
      req.log.info({ infoHash }, `${topic} requested`);
      return reply.code(202).send(await send('torrent', topic, [infoHash]));
    });
  }

  /** Session-wide rate limits in bytes per second, 0 = none; either may be left out. Answered by limits_changed. */
  app.post('/api/limits', async (req, reply) => {
    const body = bodyObject(req.body);
    const limits: Record<string, number> = {};
    for (const key of ['upload', 'download'] as const) {
      const v = body[key];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_LIMIT) {
        throw new BadInputError(`${key} must be a whole number of bytes per second (0 = no limit), got ${JSON.stringify(v)}`);
      }
      limits[key] = v;
    }
    if (Object.keys(limits).length === 0) throw new BadInputError('give upload and/or download in bytes per second (0 = no limit)');
    req.log.info(limits, 'limits requested');
    return reply.code(202).send(await send('torrent', 'set_limits', [limits]));
  });

  // Contacts: the xmpp service does the asking; the roster in the store (GET /api/contacts) shows the result.
  /** Ask someone, or accept their pending request (add_contact does both). */
  app.post('/api/contacts/add', async (req, reply) => {
    const contact = requireBareJid(requireString(bodyObject(req.body).jid, 'jid'));
    req.log.info({ contact }, 'add_contact requested');
    return reply.code(202).send(await send('xmpp', 'add_contact', [contact]));
  });

  /** Refuse a pending request, or end a contact both ways. */
  app.post('/api/contacts/remove', async (req, reply) => {
    const contact = requireBareJid(requireString(bodyObject(req.body).jid, 'jid'));
    if (!(await getContact(db, contact))) throw new NotFoundError(`${contact} is not in your contacts`);
    req.log.info({ contact }, 'remove_contact requested');
    return reply.code(202).send(await send('xmpp', 'remove_contact', [contact]));
  });
}
