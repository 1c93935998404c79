// `bitween logs`: reads the files pm2 writes (`$PM2_HOME/logs/bitween-<service>-out.log` / `-error.log`, each
// line behind pm2's date, as ecosystem.config.js's `time: true` makes them) and shows them as pretty lines;
// -f follows them. The files are written here in pm2's layout; test/quickstart.test.ts reads real ones.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, runCli } from '../helpers/cli.js';

let home: string;
let logs: string;
/** pm2's date, local time to the second, as pm2 7 writes it with `time: true`. */
const pm2Date = (t: number) => {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};
const t0 = new Date(2026, 10, 30, 20, 50, 1, 0).getTime();
const json = (service: string, level: number, time: number, msg: string, extra: Record<string, unknown> = {}) =>
  `${pm2Date(time)}: ${JSON.stringify({ level, time, service, pid: 42, name: `bitween-${service}`, ...extra, msg })}\n`;

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'bitween-logs-'));
  logs = join(home, 'logs');
  await mkdir(logs);
  await writeFile(join(logs, 'bitween-torrent-out.log'), json('torrent', 30, t0, 'bitween-torrent ready', { topics: ['exit', 'add_hash'] }) + json('torrent', 40, t0 + 2000, 'peer refused', { address: '203.0.113.9:6881' }));
  await writeFile(join(logs, 'bitween-torrent-error.log'), `${pm2Date(t0 + 3000)}: bitween-torrent: BITWEEN_PEERS="some" must be one of contacts, any\n`);
  await writeFile(join(logs, 'bitween-nat-out.log'), json('nat', 30, t0 + 1000, 'bitween-nat ready'));
});

after(() => rm(home, { recursive: true, force: true }));

test('every service in time order, one pretty line each, the service named in full', async () => {
  const r = await runCli(['logs'], { PM2_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(r.stdout.split('\n'), [
    '2026-11-30 20:50:01.000 INFO  torrent bitween-torrent ready  topics=["exit","add_hash"]',
    '2026-11-30 20:50:02.000 INFO  nat     bitween-nat ready',
    '2026-11-30 20:50:03.000 WARN  torrent peer refused  address=203.0.113.9:6881',
    '2026-11-30 20:50:04.000 ERR   torrent bitween-torrent: BITWEEN_PEERS="some" must be one of contacts, any',
    '',
  ]);
});

test('one service, the last N lines', async () => {
  const r = await runCli(['logs', 'torrent', '--lines', '2'], { PM2_HOME: home });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, / WARN  torrent peer refused /);
  assert.match(lines[1]!, / ERR   torrent bitween-torrent: BITWEEN_PEERS/);
});

test('an unknown service, or no files: one line that says what to do', async () => {
  const bad = await runCli(['logs', 'torrnet'], { PM2_HOME: home });
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'bitween: no service "torrnet": one of torrent, nat, xmpp, web\n');
  const none = await runCli(['logs', 'web'], { PM2_HOME: home });
  assert.equal(none.code, 69);
  assert.equal(none.stderr, `bitween: no log files in ${logs} for bitween-web: has pm2 run them (\`npm start\`)? Set PM2_HOME to the one that ran them\n`);
});

test('-f prints the tail, then each line appended, until it is stopped', { timeout: 60000 }, async () => {
  const child = spawn(process.execPath, [CLI, 'logs', 'nat', '-f', '--lines', '1'], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', PM2_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waitFor = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} within 20 s; output:\n${out}`)), 20000);
      const check = () => {
        if (pattern.test(out)) {
          clearTimeout(timer);
          child.stdout.off('data', check);
          resolve();
        }
      };
      child.stdout.on('data', check);
      check();
    });
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(/bitween-nat ready\n/);
    // Written as pm2 writes: a line in two pieces; nothing shows before the whole line is there.
    const line = json('nat', 30, t0 + 5000, 'mapped', { externalPort: 51413 });
    await appendFile(join(logs, 'bitween-nat-out.log'), line.slice(0, 20));
    await appendFile(join(logs, 'bitween-nat-out.log'), line.slice(20));
    await waitFor(/mapped {2}externalPort=51413\n/);
    assert.deepEqual(out.split('\n'), ['2026-11-30 20:50:02.000 INFO  nat     bitween-nat ready', '2026-11-30 20:50:06.000 INFO  nat     mapped  externalPort=51413', '']);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
});
