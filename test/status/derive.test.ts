// The health each service derives from its own state, checked state by state (the processes that publish
// it are in health.test.ts; the torrent service's store outage in test/faults/store-down.test.ts), and how
// the one reader reads a heartbeat's health: missing, malformed, or none at all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Heartbeat } from '../../lib/heartbeat.js';
import { NO_HEALTH, parseHealth, problemLines, serviceStatus } from '../../lib/status.js';
import type { NatMappingState } from '../../lib/store/state.js';
import { natHealth } from '../../services/nat/health.js';
import { torrentHealth } from '../../services/torrent/health.js';
import { xmppHealth } from '../../services/xmpp/health.js';

const states = (s: Partial<Record<string, number>> = {}) => ({ metadata: 0, downloading: 0, seeding: 0, error: 0, missing: 0, changed: 0, ...s });

test('torrent: up with port and torrents by state; degraded when the store is away or torrents failed, with why', () => {
  assert.deepEqual(torrentHealth({ port: 6881, torrents: 3, states: states({ seeding: 2, downloading: 1 }), store: { reachable: true, pendingWrites: 0 } }), {
    state: 'up', summary: 'listening on port 6881, 3 torrents (1 downloading, 2 seeding)', reason: null,
  });
  assert.deepEqual(torrentHealth({ port: 6881, torrents: 0, states: states(), store: { reachable: true, pendingWrites: 2 } }).summary, 'listening on port 6881, 0 torrents');

  const away = torrentHealth({ port: 6881, torrents: 1, states: states({ seeding: 1 }), store: { reachable: false, pendingWrites: 3 } });
  assert.equal(away.state, 'degraded');
  assert.equal(away.summary, 'store unreachable');
  assert.equal(away.reason, 'the store (PostgreSQL) does not answer: 3 changes wait in memory until it is back');

  const failed = torrentHealth({ port: 6881, torrents: 5, states: states({ seeding: 1, error: 1, missing: 2, changed: 1 }), store: { reachable: true, pendingWrites: 0 } });
  assert.equal(failed.state, 'degraded');
  assert.equal(failed.summary, '4 torrents failed');
  assert.equal(failed.reason, 'error 1, missing 2, changed 1 (`bitween ls` says why): `bitween recheck <hash>` once fixed');

  const both = torrentHealth({ port: 6881, torrents: 1, states: states({ error: 1 }), store: { reachable: false, pendingWrites: 1 } });
  assert.equal(both.summary, 'store unreachable, 1 torrent failed');
  assert.match(both.reason!, /^the store \(PostgreSQL\) does not answer: 1 change waits in memory until it is back; error 1 \(/);
});

const mapping = (s: Partial<NatMappingState>): NatMappingState => ({
  status: 'searching', externalPort: null, internalPort: null, protocol: null, externalIp: null, expiresAt: null, renewAt: null,
  lastError: null, lastErrorAt: null, nextAttemptAt: null, protocols: ['natpmp', 'upnp'], updatedAt: '2026-01-01T00:00:00.000Z', ...s,
} as NatMappingState);

test('nat: mapped, off, searching and waiting are up; no router and retrying are degraded with the last error', () => {
  assert.deepEqual(natHealth(mapping({ status: 'off', protocols: [] })), { state: 'up', summary: 'port mapping off', reason: null });
  assert.deepEqual(natHealth(mapping({ status: 'mapped', externalIp: '203.0.113.7', externalPort: 51413, internalPort: 6881, protocol: 'natpmp' })), {
    state: 'up', summary: 'mapped 203.0.113.7:51413 via NAT-PMP', reason: null,
  });
  assert.equal(natHealth(mapping({ status: 'mapped', externalIp: '203.0.113.7', externalPort: 51413, protocol: 'upnp-igd2' })).summary, 'mapped 203.0.113.7:51413 via UPnP IGD v2');
  assert.equal(natHealth(mapping({ status: 'searching' })).state, 'up');
  assert.equal(natHealth(mapping({ status: 'waiting', externalIp: '203.0.113.7' })).summary, 'router found (external address 203.0.113.7), waiting for the torrent port');

  const noRouter = natHealth(mapping({ status: 'retrying', lastError: 'no router maps ports for this node: …' }));
  assert.deepEqual(noRouter, { state: 'degraded', summary: 'no router', reason: 'no router maps ports for this node: …' });

  const refused = natHealth(mapping({ status: 'retrying', externalIp: '203.0.113.7', lastError: 'the router refused AddPortMapping (718)' }));
  assert.deepEqual(refused, { state: 'degraded', summary: 'retrying', reason: 'retrying with backoff (last error: the router refused AddPortMapping (718))' });

  const lost = natHealth(mapping({ status: 'retrying', externalIp: null, externalPort: 51413, expiresAt: '2026-01-01T01:00:00.000Z', lastError: 'timeout' }));
  assert.equal(lost.summary, 'retrying');
  assert.match(lost.reason!, /stopped answering \(last error: timeout\); the mapping external:51413 holds until 2026-01-01T01:00:00\.000Z/);
});

test('xmpp: only a session that is up is up; connecting, auth failed and login refused say why', () => {
  const base = { jid: null, server: 'xmpp://127.0.0.1:5222', lastError: null, lastErrorAt: null, logins: 0 };
  assert.deepEqual(xmppHealth({ ...base, phase: 'online', jid: 'a@example.org/laptop' }, 'a@example.org'), { state: 'up', summary: 'online as a@example.org/laptop', reason: null });
  assert.deepEqual(xmppHealth({ ...base, phase: 'connecting' }, 'a@example.org'), { state: 'degraded', summary: 'connecting', reason: 'logging in to xmpp://127.0.0.1:5222' });
  assert.equal(
    xmppHealth({ ...base, phase: 'connecting', lastError: 'connect ECONNREFUSED 127.0.0.1:5222' }, 'a@example.org').reason,
    'not connected to xmpp://127.0.0.1:5222, retrying (last error: connect ECONNREFUSED 127.0.0.1:5222): is the XMPP server up, BITWEEN_XMPP_SERVICE right?',
  );
  const auth = xmppHealth({ ...base, phase: 'auth failed', lastError: 'not-authorized' }, 'a@example.org');
  assert.equal(auth.summary, 'auth failed');
  assert.match(auth.reason!, /refused the login of a@example\.org \(last error: not-authorized\): check BITWEEN_JID and BITWEEN_PASSWORD/);
  assert.equal(xmppHealth({ ...base, phase: 'login refused', lastError: 'offered no STARTTLS' }, 'a@example.org').summary, 'login refused');
});

const beat = (facts: Record<string, unknown>): Heartbeat => ({ service: 'x', pid: 1, version: '0', startedAt: 's', updatedAt: 'u', facts });

test('the reader: health out of the facts; none means running; unreadable is degraded; no heartbeat is down', () => {
  const s = serviceStatus('nat', beat({ status: 'off', health: { state: 'up', summary: 'port mapping off', reason: null } }));
  assert.deepEqual([s.up, s.state, s.summary, s.reason, s.facts], [true, 'up', 'port mapping off', null, { status: 'off' }]);
  assert.deepEqual(parseHealth(undefined), { state: 'up', summary: NO_HEALTH, reason: null });
  assert.equal(parseHealth({ state: 'degraded', summary: 'no router' }).reason, 'no reason given');
  for (const odd of [null, 'up', { state: 'fine', summary: 'x' }, { state: 'up' }, { state: 'up', summary: '' }]) {
    const h = parseHealth(odd);
    assert.equal(h.state, 'degraded', JSON.stringify(odd));
    assert.equal(h.summary, 'unknown health');
  }
  assert.equal(parseHealth({ state: 'up', summary: 'x'.repeat(10_000) }).summary.length, 500, 'bounded');

  const down = serviceStatus('xmpp', undefined);
  assert.deepEqual([down.up, down.state, down.summary, down.pid], [false, 'down', 'not running', null]);
  assert.match(down.reason!, /^no heartbeat \(stopped, crashed, or cut off from Redis\): .*xmpp.* says why$/);

  assert.deepEqual(problemLines([s, down], { up: false, error: 'cannot reach Postgres' }), [
    `xmpp down (not running): ${down.reason}`,
    'postgres down: cannot reach Postgres',
  ]);
});
