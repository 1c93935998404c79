// Reads and validates the environment (and a `.env` file in the working directory) once, at start,
// into a frozen, typed object. A bad value throws ConfigError naming the variable.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError } from './errors.js';
import { LOG_FORMATS, type LogFormat } from './log.js';

export interface Config {
  /** BITWEEN_REDIS_URL, default redis://127.0.0.1:6379 */
  readonly redisUrl: string;
  /** BITWEEN_DATABASE_URL, default postgres://127.0.0.1:5432/bitween */
  readonly databaseUrl: string;
  /** BITWEEN_NAMESPACE, default `bitween`: prefix of every channel and Redis key. */
  readonly namespace: string;
  /** BITWEEN_JID / BITWEEN_PASSWORD: the XMPP account; the xmpp service waits idle without them. */
  readonly jid: string | undefined;
  readonly password: string | undefined;
  /** BITWEEN_XMPP_SERVICE, e.g. xmpp://127.0.0.1:5222; default: resolved from the JID's domain. */
  readonly xmppService: string | undefined;
  /** BITWEEN_SAVE_PATH, default ~/bitween/downloads: where downloads go. */
  readonly savePath: string;
  /** BITWEEN_SHARE_ROOTS, default the service user's home: the folders whose contents may be shared, ':'-separated
   *  like PATH, each absolute (services/torrent/share-path.ts applies them after resolving links). */
  readonly shareRoots: readonly string[];
  /** BITWEEN_TORRENT_PORT, default 0 (any free port). */
  readonly torrentPort: number;
  /** BITWEEN_UPNP / BITWEEN_NATPMP, default true: which port-mapping protocols the nat service tries. */
  readonly upnp: boolean;
  readonly natpmp: boolean;
  /** BITWEEN_NAT_LEASE_SECONDS, default 7200 (2 h, NAT-PMP's recommended lifetime): the lease asked of the
   *  router; the nat service renews at half the granted lease. Short leases are for tests. */
  readonly natLeaseSeconds: number;
  /** BITWEEN_IPV4 / BITWEEN_IPV6, default true: which address families are published. */
  readonly ipv4: boolean;
  readonly ipv6: boolean;
  /** BITWEEN_LOG_LEVEL, default info. */
  readonly logLevel: string;
  /** BITWEEN_LOG_FORMAT, default `auto`: `pretty` lines for people, `json` for machines; `auto` is pretty on a
   *  terminal and json into a pipe or file (pm2). lib/log.ts. */
  readonly logFormat: LogFormat;
  /** BITWEEN_ALLOW_LOOPBACK, default false: publish, accept and dial loopback addresses (tests, one-machine setups). */
  readonly allowLoopback: boolean;
  /** BITWEEN_AUTO_ACCEPT, default false: accept every subscription request. */
  readonly autoAccept: boolean;
  /** BITWEEN_WEB_HOST (default 127.0.0.1), BITWEEN_WEB_PORT (default 8737), BITWEEN_WEB_TOKEN. */
  readonly webHost: string;
  readonly webPort: number;
  readonly webToken: string | undefined;
  /** BITWEEN_UPLOAD_LIMIT / BITWEEN_DOWNLOAD_LIMIT, bytes per second, default 0 (unlimited). */
  readonly uploadLimit: number;
  readonly downloadLimit: number;
  /** BITWEEN_PROGRESS_INTERVAL_MS, default 2000: how often download progress is written to the store. */
  readonly progressIntervalMs: number;
  /** BITWEEN_FILE_CHECK_INTERVAL_MS, default 60000: how often seeding files are compared (size, mtime) with
   *  what was stored, to notice files moved away or edited. */
  readonly fileCheckIntervalMs: number;
  /** BITWEEN_MAX_OPEN_FILES, default 128: data files the torrent service keeps open at once, whatever the
   *  number of torrents (least recently used closed first; services/torrent/open-files.ts). */
  readonly maxOpenFiles: number;
  /** BITWEEN_DORMANT_AFTER_MS, default 300000 (5 min): a complete seeding torrent with no peer connected for this
   *  long leaves webtorrent and waits, listed and checked, until a peer's handshake names it (services/torrent/
   *  dormant.ts). 0 = every torrent stays in webtorrent. */
  readonly dormantAfterMs: number;
  /** BITWEEN_PEERS, default `contacts`: accept incoming BitTorrent connections only from addresses contacts
   *  published (`any`: from anyone who knows the port and a hash). */
  readonly peers: 'contacts' | 'any';
  /** BITWEEN_ENCRYPTION, default `prefer`: BitTorrent protocol encryption (MSE/PE, RC4). `prefer`: connect
   *  encrypted, accept plaintext peers too; `require`: drop plaintext peers; `off`: plaintext only. */
  readonly encryption: 'prefer' | 'require' | 'off';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name}=${JSON.stringify(v)} is not a boolean: use true or false`);
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new ConfigError(`${name}=${JSON.stringify(v)} must be an integer from ${min} to ${max}`);
  }
  return Number(v);
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(`${name}=${JSON.stringify(v)} must be one of ${allowed.join(', ')}`);
  return v as T;
}

function url(env: Env, name: string, fallback: string | undefined, protocols: string[]): string | undefined {
  const v = optional(env, name) ?? fallback;
  if (v === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(`${name}=${JSON.stringify(v)} is not a URL (e.g. ${protocols[0]}//host:port)`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name}=${JSON.stringify(v)} must start with ${protocols.join(' or ')}//`);
  }
  return v;
}

/** A ':'-separated list of absolute folders (like PATH; a folder whose name holds ':' cannot be listed). */
function folderList(env: Env, name: string, fallback: string[]): readonly string[] {
  const v = env[name];
  if (v === undefined || v === '') return Object.freeze(fallback);
  const folders = v.split(':');
  for (const f of folders) {
    if (!isAbsolute(f)) throw new ConfigError(`${name}=${JSON.stringify(v)}: ${JSON.stringify(f)} is not an absolute path; list absolute folders separated by ':'`);
  }
  return Object.freeze(folders.map((f) => resolve(f)));
}

/**
 * Values from `.env` fill only what the real environment leaves unset. The node's `.env` is in BITWEEN_HOME
 * when that is set, else in the working folder (the checkout, for the pm2 apps). The CLI looks further:
 * cli/home.ts.
 */
export function readDotEnv(dir = process.env.BITWEEN_HOME || process.cwd()): Env {
  const file = join(dir, '.env');
  if (!existsSync(file)) return {};
  return parseEnv(readFileSync(file, 'utf8'));
}

export function loadConfig(env: Env = { ...readDotEnv(), ...process.env }): Config {
  const namespace = str(env, 'BITWEEN_NAMESPACE', 'bitween');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(namespace)) {
    throw new ConfigError(`BITWEEN_NAMESPACE=${JSON.stringify(namespace)} may hold only letters, digits, '_', '.', '-'`);
  }
  const jid = optional(env, 'BITWEEN_JID');
  if (jid !== undefined && !/^[^@/\s]+@[^@/\s]+(\/[^\s]+)?$/.test(jid)) {
    throw new ConfigError(`BITWEEN_JID=${JSON.stringify(jid)} is not a JID like user@example.org`);
  }
  const logLevel = str(env, 'BITWEEN_LOG_LEVEL', 'info');
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`BITWEEN_LOG_LEVEL=${JSON.stringify(logLevel)} must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return Object.freeze({
    redisUrl: url(env, 'BITWEEN_REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:'])!,
    databaseUrl: url(env, 'BITWEEN_DATABASE_URL', 'postgres://127.0.0.1:5432/bitween', ['postgres:', 'postgresql:'])!,
    namespace,
    jid,
    password: optional(env, 'BITWEEN_PASSWORD'),
    xmppService: url(env, 'BITWEEN_XMPP_SERVICE', undefined, ['xmpp:', 'xmpps:', 'ws:', 'wss:']),
    savePath: resolve(str(env, 'BITWEEN_SAVE_PATH', join(homedir(), 'bitween', 'downloads'))),
    shareRoots: folderList(env, 'BITWEEN_SHARE_ROOTS', [homedir()]),
    torrentPort: int(env, 'BITWEEN_TORRENT_PORT', 0, 0, 65535),
    upnp: bool(env, 'BITWEEN_UPNP', true),
    natpmp: bool(env, 'BITWEEN_NATPMP', true),
    natLeaseSeconds: int(env, 'BITWEEN_NAT_LEASE_SECONDS', 7200, 2, 604800),
    ipv4: bool(env, 'BITWEEN_IPV4', true),
    ipv6: bool(env, 'BITWEEN_IPV6', true),
    logLevel,
    logFormat: oneOf(env, 'BITWEEN_LOG_FORMAT', 'auto', LOG_FORMATS),
    allowLoopback: bool(env, 'BITWEEN_ALLOW_LOOPBACK', false),
    autoAccept: bool(env, 'BITWEEN_AUTO_ACCEPT', false),
    webHost: str(env, 'BITWEEN_WEB_HOST', '127.0.0.1'),
    webPort: int(env, 'BITWEEN_WEB_PORT', 8737, 1, 65535),
    webToken: optional(env, 'BITWEEN_WEB_TOKEN'),
    uploadLimit: int(env, 'BITWEEN_UPLOAD_LIMIT', 0, 0, Number.MAX_SAFE_INTEGER),
    downloadLimit: int(env, 'BITWEEN_DOWNLOAD_LIMIT', 0, 0, Number.MAX_SAFE_INTEGER),
    progressIntervalMs: int(env, 'BITWEEN_PROGRESS_INTERVAL_MS', 2000, 100, 3_600_000),
    fileCheckIntervalMs: int(env, 'BITWEEN_FILE_CHECK_INTERVAL_MS', 60_000, 100, 86_400_000),
    maxOpenFiles: int(env, 'BITWEEN_MAX_OPEN_FILES', 128, 8, 65_536),
    dormantAfterMs: int(env, 'BITWEEN_DORMANT_AFTER_MS', 300_000, 0, 86_400_000),
    peers: oneOf(env, 'BITWEEN_PEERS', 'contacts', ['contacts', 'any'] as const),
    encryption: oneOf(env, 'BITWEEN_ENCRYPTION', 'prefer', ['prefer', 'require', 'off'] as const),
  });
}
