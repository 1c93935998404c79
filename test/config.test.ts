// Configuration: defaults, one ConfigError naming the variable for each malformed value, `.env` filling
// only what the environment leaves unset — and a real service process refusing to start, with exit code 78
// and one line, on a bad value or on a database whose migrations have not run.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, readDotEnv } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { EXIT_CONFIG } from '../lib/service.js';
import { REDIS_URL, newNamespace } from './helpers/bus.js';
import { createTestDatabase } from './helpers/db.js';
import { startService } from './helpers/process.js';

describe('loadConfig', () => {
  test('defaults, in a frozen object', () => {
    const config = loadConfig({});
    assert.ok(Object.isFrozen(config));
    const expected = {
      redisUrl: 'redis://127.0.0.1:6379',
      databaseUrl: 'postgres://127.0.0.1:5432/bitween',
      namespace: 'bitween',
      jid: undefined,
      password: undefined,
      xmppService: undefined,
      savePath: join(homedir(), 'bitween', 'downloads'),
      torrentPort: 0,
      upnp: true,
      natpmp: true,
      ipv4: true,
      ipv6: true,
      logLevel: 'info',
      allowLoopback: false,
      autoAccept: false,
      webHost: '127.0.0.1',
      webPort: 8737,
      webToken: undefined,
      progressIntervalMs: 2000,
    };
    for (const [key, value] of Object.entries(expected)) {
      assert.deepEqual(config[key as keyof typeof config], value, key);
    }
  });

  test('an empty value counts as unset', () => {
    const config = loadConfig({ BITWEEN_NAMESPACE: '', BITWEEN_TORRENT_PORT: '', BITWEEN_UPNP: '', BITWEEN_JID: '' });
    assert.equal(config.namespace, 'bitween');
    assert.equal(config.torrentPort, 0);
    assert.equal(config.upnp, true);
    assert.equal(config.jid, undefined);
  });

  test('accepted spellings', () => {
    for (const v of ['true', 'TRUE', 'yes', 'on', '1']) assert.equal(loadConfig({ BITWEEN_UPNP: v }).upnp, true, v);
    for (const v of ['false', 'False', 'no', 'OFF', '0']) assert.equal(loadConfig({ BITWEEN_UPNP: v }).upnp, false, v);
    const config = loadConfig({
      BITWEEN_REDIS_URL: 'rediss://user:pw@redis.example.org:6380/2',
      BITWEEN_DATABASE_URL: 'postgresql://bitween@db.example.org/bitween',
      BITWEEN_XMPP_SERVICE: 'xmpps://xmpp.example.org:5223',
      BITWEEN_NAMESPACE: 'node-2_home.a',
      BITWEEN_JID: 'alice@example.org/homeserver',
      BITWEEN_TORRENT_PORT: '65535',
      BITWEEN_LOG_LEVEL: 'silent',
      BITWEEN_SAVE_PATH: 'relative/dir',
    });
    assert.equal(config.redisUrl, 'rediss://user:pw@redis.example.org:6380/2');
    assert.equal(config.databaseUrl, 'postgresql://bitween@db.example.org/bitween');
    assert.equal(config.xmppService, 'xmpps://xmpp.example.org:5223');
    assert.equal(config.namespace, 'node-2_home.a');
    assert.equal(config.jid, 'alice@example.org/homeserver');
    assert.equal(config.torrentPort, 65535);
    assert.equal(config.logLevel, 'silent');
    assert.equal(config.savePath, join(process.cwd(), 'relative/dir'), 'paths are made absolute');
  });

  const malformed: [string, string][] = [
    ['BITWEEN_UPNP', 'maybe'],
    ['BITWEEN_NATPMP', '2'],
    ['BITWEEN_IPV4', 'yess'],
    ['BITWEEN_IPV6', 'true '],
    ['BITWEEN_ALLOW_LOOPBACK', 'enabled'],
    ['BITWEEN_AUTO_ACCEPT', 'y'],
    ['BITWEEN_TORRENT_PORT', '65536'],
    ['BITWEEN_TORRENT_PORT', '-1'],
    ['BITWEEN_TORRENT_PORT', '6881a'],
    ['BITWEEN_TORRENT_PORT', '1.5'],
    ['BITWEEN_WEB_PORT', '0'],
    ['BITWEEN_PROGRESS_INTERVAL_MS', '10'],
    ['BITWEEN_REDIS_URL', 'not a url'],
    ['BITWEEN_REDIS_URL', 'http://127.0.0.1:6379'],
    ['BITWEEN_REDIS_URL', '127.0.0.1:6379'],
    ['BITWEEN_DATABASE_URL', 'mysql://127.0.0.1/bitween'],
    ['BITWEEN_DATABASE_URL', '//127.0.0.1:5432'],
    ['BITWEEN_XMPP_SERVICE', 'tcp://127.0.0.1:5222'],
    ['BITWEEN_NAMESPACE', 'my node'],
    ['BITWEEN_NAMESPACE', 'a:b'],
    ['BITWEEN_NAMESPACE', 'ns*'],
    ['BITWEEN_NAMESPACE', 'x'.repeat(65)],
    ['BITWEEN_JID', 'alice'],
    ['BITWEEN_JID', 'alice@'],
    ['BITWEEN_JID', '@example.org'],
    ['BITWEEN_JID', 'alice@example.org@evil'],
    ['BITWEEN_JID', 'al ice@example.org'],
    ['BITWEEN_LOG_LEVEL', 'verbose'],
  ];
  for (const [name, value] of malformed) {
    test(`${name}=${JSON.stringify(value)} → ConfigError naming ${name}`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
          assert.equal(err.code, 'E_CONFIG');
          assert.ok(err.message.startsWith(`${name}=${JSON.stringify(value)} `), err.message);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        },
      );
    });
  }
});

describe('.env', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bitween-dotenv-'));
    await writeFile(
      join(dir, '.env'),
      ['# comment', 'BITWEEN_NAMESPACE=from-file', 'BITWEEN_TORRENT_PORT=51413', 'BITWEEN_JID="alice@example.org"', 'BITWEEN_UPNP=false', ''].join('\n'),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('fills only what the environment leaves unset', () => {
    const fromFile = readDotEnv(dir);
    assert.deepEqual(fromFile, { BITWEEN_NAMESPACE: 'from-file', BITWEEN_TORRENT_PORT: '51413', BITWEEN_JID: 'alice@example.org', BITWEEN_UPNP: 'false' });
    // The composition loadConfig() uses by default.
    const config = loadConfig({ ...fromFile, ...{ BITWEEN_NAMESPACE: 'from-env', BITWEEN_UPNP: 'true' } });
    assert.equal(config.namespace, 'from-env');
    assert.equal(config.upnp, true);
    assert.equal(config.torrentPort, 51413);
    assert.equal(config.jid, 'alice@example.org');
  });

  test('no .env file: nothing', () => {
    assert.deepEqual(readDotEnv(join(dir, 'no-such-dir')), {});
  });
});

// ---- real service processes --------------------------------------------------------------------

/** Resolves with the exit code, or rejects when the process is still running after timeoutMs. */
async function exitWithin(proc: ReturnType<typeof startService>, timeoutMs: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms; output:\n${proc.output.join('\n')}`)), timeoutMs);
  });
  try {
    return await Promise.race([proc.exited, timeout]);
  } finally {
    clearTimeout(timer);
    await proc.kill9();
  }
}

describe('a service process refuses to start', () => {
  let dir: string;
  // Every test here points the service at a namespace of its own and, unless said, at no database at all:
  // a config error must stop it before it opens anything.
  const base = () => ({
    BITWEEN_NAMESPACE: newNamespace('cfg'),
    BITWEEN_REDIS_URL: REDIS_URL,
    BITWEEN_DATABASE_URL: 'postgres://127.0.0.1:1/none',
    BITWEEN_UPNP: 'false',
    BITWEEN_NATPMP: 'false',
  });
  before(async () => {
    // cwd for the processes: an empty folder, so a developer's own .env in the repo cannot interfere.
    dir = await mkdtemp(join(tmpdir(), 'bitween-cfgproc-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const cases: [string, string, RegExp][] = [
    ['BITWEEN_NAMESPACE', 'my node', /may hold only letters, digits/],
    ['BITWEEN_REDIS_URL', 'http://127.0.0.1:6379', /must start with redis: or rediss:/],
    ['BITWEEN_UPNP', 'maybe', /is not a boolean/],
  ];
  for (const [name, value, why] of cases) {
    test(`${name}=${JSON.stringify(value)} → exit ${EXIT_CONFIG} and exactly one line naming ${name}`, async () => {
      const proc = startService('nat', { ...base(), [name]: value }, { cwd: dir });
      assert.equal(await exitWithin(proc, 10000), EXIT_CONFIG);
      const lines = proc.output.filter((l) => l.trim() !== '');
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.ok(lines[0]!.startsWith(`bitween-nat: ${name}=${JSON.stringify(value)} `), lines[0]);
      assert.match(lines[0]!, why);
    });
  }

  test(`a malformed value in .env → exit ${EXIT_CONFIG} naming it; the environment's value wins over the file's`, async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'bitween-cfgenv-'));
    try {
      // BITWEEN_LOG_LEVEL is checked before BITWEEN_NATPMP: if the file's value won, the line would name it.
      await writeFile(join(cwd, '.env'), 'BITWEEN_LOG_LEVEL=verbose\nBITWEEN_NATPMP=perhaps\n');
      const env: Record<string, string> = { ...base(), BITWEEN_LOG_LEVEL: 'info' };
      delete env.BITWEEN_NATPMP;
      const proc = startService('nat', env, { cwd });
      assert.equal(await exitWithin(proc, 10000), EXIT_CONFIG);
      const lines = proc.output.filter((l) => l.trim() !== '');
      assert.deepEqual(lines, ['bitween-nat: BITWEEN_NATPMP="perhaps" is not a boolean: use true or false']);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  test(`a database without the migrations → exit ${EXIT_CONFIG} with one line that says to run npm run migrate`, async () => {
    const db = await createTestDatabase({ migrate: false });
    try {
      const proc = startService('nat', { ...base(), BITWEEN_DATABASE_URL: db.url }, { cwd: dir });
      assert.equal(await exitWithin(proc, 15000), EXIT_CONFIG);
      const lines = proc.output.filter((l) => l.trim() !== '');
      const fatal = lines.filter((l) => /npm run migrate/.test(l));
      assert.equal(fatal.length, 1, lines.join('\n'));
      const entry = JSON.parse(fatal[0]!) as { level: number; service: string; msg: string; err?: unknown };
      assert.equal(entry.level, 60, 'logged as fatal');
      assert.equal(entry.service, 'nat');
      assert.match(entry.msg, /schema is behind .*run `(cd \S+ && )?npm run migrate`/);
      assert.equal(entry.err, undefined, 'a known refusal carries no stack');
      // Nothing else was set up: no table was created behind the user's back.
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`);
      assert.equal(rows[0].n, 0);
    } finally {
      await db.drop();
    }
  });
});
