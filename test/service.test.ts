// The frame every service runs in (lib/service.ts): a stop that arrives during start-up is clean.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newNamespace, REDIS_URL } from './helpers/bus.js';
import { freePort } from './helpers/ports.js';
import { startService } from './helpers/process.js';

test('a service still waiting for Postgres stops on SIGTERM with exit code 0', async () => {
  const closedPort = await freePort();
  const proc = startService('torrent', {
    BITWEEN_NAMESPACE: newNamespace('svc'),
    BITWEEN_REDIS_URL: REDIS_URL,
    BITWEEN_DATABASE_URL: `postgres://root@127.0.0.1:${closedPort}/nothing`,
  });
  try {
    await proc.waitForLine(/cannot reach Postgres at .*retrying/, 15000);
    const started = Date.now();
    assert.equal(await proc.stop(), 0, proc.output.slice(-5).join('\n'));
    assert.ok(Date.now() - started < 7000, 'stopped within the shutdown deadline');
    assert.ok(!proc.output.some((l) => /"level":(50|60)/.test(l)), 'no error or fatal line');
  } finally {
    await proc.kill9();
  }
});
