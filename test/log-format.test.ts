// BITWEEN_LOG_FORMAT: a service prints levelled human lines with `pretty`, pino JSON with `json`, and JSON into
// a pipe with the default `auto`. The format of the output is the feature here, so the test reads it.
// The service is the torrent service waiting for a Postgres that is not there: it logs one warning and needs
// nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRecord } from '../lib/log.js';
import { newNamespace, REDIS_URL } from './helpers/bus.js';
import { freePort } from './helpers/ports.js';
import { startService } from './helpers/process.js';

async function waitingLine(format: string | undefined): Promise<string> {
  const closedPort = await freePort();
  const proc = startService('torrent', {
    BITWEEN_NAMESPACE: newNamespace('logfmt'),
    BITWEEN_REDIS_URL: REDIS_URL,
    BITWEEN_DATABASE_URL: `postgres://root@127.0.0.1:${closedPort}/nothing`,
    ...(format === undefined ? {} : { BITWEEN_LOG_FORMAT: format }),
  });
  try {
    return await proc.waitForLine(/cannot reach Postgres at .*retrying/, 30000);
  } finally {
    await proc.stop();
  }
}

test('pretty: one levelled line with local time, level, service and message', async () => {
  const line = await waitingLine('pretty');
  assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARN  torrent cannot reach Postgres at postgres:\/\/root@127\.0\.0\.1:\d+\/nothing.*: retrying$/);
  assert.doesNotMatch(line, /[{}]|"level"/);
});

test('json, and auto into a pipe: one pino JSON object naming the service', async () => {
  for (const format of ['json', undefined]) {
    const record = JSON.parse(await waitingLine(format)) as Record<string, unknown>;
    assert.equal(record.level, 40, `format ${format ?? 'auto'}`);
    assert.equal(record.service, 'torrent');
    assert.equal(typeof record.time, 'number');
  }
});

test('an unknown format stops the service at start with one line naming the variable (exit 78)', async () => {
  const proc = startService('torrent', { BITWEEN_REDIS_URL: REDIS_URL, BITWEEN_LOG_FORMAT: 'fancy' });
  assert.equal(await proc.exited, 78);
  assert.deepEqual(proc.output.filter((l) => l.trim()), ['bitween-torrent: BITWEEN_LOG_FORMAT="fancy" must be one of auto, pretty, json']);
});

test('pretty lines carry the other fields as key=value and an error stack on indented lines', () => {
  const err = new Error('disk full');
  const line = formatRecord({
    level: 50,
    time: new Date(2026, 10, 30, 20, 50, 1, 23).getTime(),
    service: 'torrent',
    pid: 7,
    msg: 'cannot save',
    infoHash: 'a'.repeat(40),
    name: 'bitween-torrent',
    path: '/srv/my files/x',
    err: { type: 'Error', message: err.message, stack: err.stack, code: 'ENOSPC' },
  });
  const [head, ...stack] = line.split('\n');
  assert.equal(head, `2026-11-30 20:50:01.023 ERROR torrent cannot save  infoHash=${'a'.repeat(40)} path="/srv/my files/x" code=ENOSPC`);
  assert.equal(stack[0], '    Error: disk full');
  assert.ok(stack.length > 1 && stack.every((l) => l.startsWith('    ')));
});
