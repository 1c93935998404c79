// The JSON API behind the page. Reads come from the store and heartbeats; actions are published on the bus
// as the CLI and redis-cli would, answered 202 with the exact payload sent, so the page can match an
// `error` report that echoes it. Outcomes arrive as bus events on /api/events.
import { isAbsolute } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { encodePayload, type Bus } from '../../lib/bus.js';
import { BadInputError, NotFoundError, UnavailableError } from '../../lib/errors.js';
import { readHeartbeat } from '../../lib/heartbeat.js';
import { browseShares } from '../../lib/store/browse.js';
import { redact } from '../../lib/store/pool.js';
import { getTorrent, listTorrents, type TorrentRow } from '../../lib/store/torrents.js';
import { requireInfoHash, requireString } from '../../lib/validate.js';
import type { Relay } from './relay.js';
import { readDashboardStatus } from './status.js';

export interface ApiContext {
  redisUrl: string;
  db: pg.Pool;
  bus: Bus;
  relay: Relay;
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
    savePath: row.savePath,
    addedAt: row.addedAt.toISOString(),
    completedAt: row.completedAt?.toISOString() ?? null,
  };
}

/** Longest search the page may send; the store splits it into words. */
const MAX_QUERY = 200;

function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadInputError('the request body must be a JSON object');
  return body as Record<string, unknown>;
}

export function registerApi(app: FastifyInstance, { db, bus, relay, redisUrl }: ApiContext): void {
  /** The service's Redis connection waits out outages; a request must not hang meanwhile. */
  function requireRedis(): void {
    if (bus.redis.status !== 'ready') throw new UnavailableError(`cannot reach Redis at ${redact(redisUrl)}: is redis-server running?`);
  }

  /** Publishes to a service that is up; says how to start it otherwise (a message nobody hears is lost). */
  async function send(service: string, topic: string, args: unknown[]) {
    requireRedis();
    const hint = `start it with \`npm start\` or \`pm2 start bitween-${service}\``;
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
}
