// Issue 13: status tells the truth. Each service runs as the process it is and says how it fares in its
// heartbeat; `bitween status` (human, --json, --check) and the dashboard's /api/status show it: xmpp with no
// account, with a wrong password, online with contacts and a pending request, then with its Prosody stopped
// and started again; nat with mapping off, and in the router fixture's namespace with no router, then with
// one; the dashboard's own URL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { xml } from '@xmpp/client';
import { readStatus, type ServiceStatus } from '../../lib/status.js';
import { newNamespace, REDIS_URL } from '../helpers/bus.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startServiceReady, type ServiceProcess } from '../helpers/process.js';
import { startWeb } from '../helpers/web.js';
import { befriend, createXmppNode, rawSession, type RawSession, type XmppNode } from '../helpers/xmpp.js';
import { startProsody, type Prosody } from '../fixtures/prosody.js';
import { createNatNode, waitUntil, type NatNode } from '../fixtures/nat-node.js';
import { WAN_ROUTER_IP, skipRouterTests } from '../fixtures/router.js';

type CliService = Omit<ServiceStatus, 'name'>;

/** Polls `bitween status --json` until `service` matches `ok`; returns it. */
async function cliStatusUntil(env: Record<string, string>, service: string, ok: (s: CliService) => boolean, timeoutMs = 30000): Promise<CliService> {
  let last: CliService | undefined;
  try {
    return await waitUntil(`${service} in bitween status`, async () => {
      const r = await runCli(['status', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      last = JSON.parse(r.stdout).services[service] as CliService;
      return ok(last) ? last : undefined;
    }, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`);
  }
}

/** A node's database and namespace without an XMPP account. */
async function bareNode(): Promise<{ db: TestDatabase; env: Record<string, string>; procs: ServiceProcess[] }> {
  const db = await createTestDatabase();
  return { db, env: { BITWEEN_DATABASE_URL: db.url, BITWEEN_REDIS_URL: REDIS_URL, BITWEEN_NAMESPACE: newNamespace('health') }, procs: [] };
}

describe('xmpp without an account, nat with mapping off, and the dashboard', () => {
  let node: Awaited<ReturnType<typeof bareNode>>;

  before(async () => {
    node = await bareNode();
  });
  after(async () => {
    for (const p of node?.procs ?? []) await p.stop();
    await node?.db.drop();
  });

  test('xmpp with BITWEEN_JID unset is degraded: no account, and says what to set', async () => {
    node.procs.push(await startServiceReady('xmpp', node.env));
    const xmpp = await cliStatusUntil(node.env, 'xmpp', (s) => s.up);
    assert.equal(xmpp.state, 'degraded');
    assert.equal(xmpp.summary, 'no account');
    assert.match(xmpp.reason!, /set BITWEEN_JID and BITWEEN_PASSWORD and restart bitween-xmpp/);
    assert.equal(xmpp.facts.connection, 'no account');
    assert.equal('health' in xmpp.facts, false, 'health is state, summary and reason, not a fact');

    const human = await runCli(['status'], node.env);
    assert.equal(human.code, 0, 'without --check a finding is not a failure');
    assert.match(human.stdout, /^xmpp +degraded +\d+ /m);
    assert.match(human.stdout, /^ {2}no account: no XMPP account configured: set BITWEEN_JID and BITWEEN_PASSWORD/m);

    const check = await runCli(['status', '--check'], node.env);
    assert.equal(check.code, 1);
    const lines = check.stdout.trimEnd().split('\n');
    assert.ok(lines.includes(`xmpp degraded (no account): ${xmpp.reason}`), check.stdout);
    assert.ok(lines.some((l) => /^torrent down \(not running\): no heartbeat/.test(l)), check.stdout);
  });

  test('nat with BITWEEN_UPNP=false BITWEEN_NATPMP=false is up: port mapping off is no failure', async () => {
    node.procs.push(await startServiceReady('nat', { ...node.env, BITWEEN_UPNP: 'false', BITWEEN_NATPMP: 'false' }));
    const nat = await cliStatusUntil(node.env, 'nat', (s) => s.up);
    assert.equal(nat.state, 'up');
    assert.equal(nat.summary, 'port mapping off');
    assert.equal(nat.reason, null);
    assert.equal(nat.facts.status, 'off');
    const human = await runCli(['status'], node.env);
    assert.match(human.stdout, /^nat +up +\d+ .*\n {2}port mapping off\n {2}status off /m);
    const check = await runCli(['status', '--check'], node.env);
    assert.equal(check.stdout.split('\n').some((l) => l.startsWith('nat ')), false, check.stdout);
  });

  test('/api/status carries the same health, the problems, and the dashboard says where it is', async () => {
    const web = await startWeb(node.env);
    node.procs.push(web.service);
    const status = await waitUntil('web up in /api/status', async () => {
      const res = await fetch(`${web.url}/api/status`);
      assert.equal(res.status, 200);
      const body = await res.json();
      return body.services.find((s: ServiceStatus) => s.name === 'web')?.up ? body : undefined;
    });
    assert.deepEqual(status.services.map((s: ServiceStatus) => [s.name, s.state, s.summary]), [
      ['torrent', 'down', 'not running'],
      ['nat', 'up', 'port mapping off'],
      ['xmpp', 'degraded', 'no account'],
      ['web', 'up', `dashboard at http://127.0.0.1:${web.port}/`],
    ]);
    assert.equal(status.store.up, true);
    assert.deepEqual(status.problems.map((l: string) => l.split(':')[0]), ['torrent down (not running)', 'xmpp degraded (no account)']);
    const cli = JSON.parse((await runCli(['status', '--json'], node.env)).stdout);
    assert.deepEqual(cli.problems, status.problems, 'one reader for both');
  });
});

describe('xmpp against a real Prosody', () => {
  let prosody: Prosody;
  let node: XmppNode | undefined;
  const sessions: RawSession[] = [];

  before(async () => {
    prosody = await startProsody();
  });
  after(async () => {
    for (const s of sessions) await s.stop();
    await node?.close();
    await prosody?.close();
  });

  test('a wrong password is degraded: auth failed, with the server refusal and what to check', async () => {
    const wrong = await createXmppNode(prosody, 'wrongpw');
    try {
      wrong.proc = await startServiceReady('xmpp', { ...wrong.env, BITWEEN_PASSWORD: 'not-the-password' });
      const xmpp = await cliStatusUntil(wrong.env, 'xmpp', (s) => s.summary === 'auth failed');
      assert.equal(xmpp.state, 'degraded');
      assert.match(xmpp.reason!, /refused the login of wrongpw@localhost \(last error: not-authorized/);
      assert.match(xmpp.reason!, /check BITWEEN_JID and BITWEEN_PASSWORD/);
      assert.equal(xmpp.facts.connection, 'auth failed');
      assert.equal(xmpp.facts.jid, null);
      // It stays so until the next attempt (a minute later): the teardown of the refused stream (Prosody may
      // reset it) must not turn it into "connecting". Two beats later:
      const later = await cliStatusUntil(wrong.env, 'xmpp', (s) => Date.parse(s.updatedAt!) >= Date.parse(xmpp.updatedAt!) + 3000);
      assert.deepEqual([later.summary, later.reason], [xmpp.summary, xmpp.reason]);
      const check = await runCli(['status', '--check'], wrong.env);
      assert.equal(check.code, 1);
      assert.match(check.stdout, /^xmpp degraded \(auth failed\): the XMPP server xmpp:\/\/127\.0\.0\.1:\d+ refused the login/m);
    } finally {
      await wrong.close();
    }
  });

  test('online as <jid>/<resource> with contacts online/total and pending requests', async () => {
    node = await createXmppNode(prosody, 'healthy');
    await prosody.register('friend', 'pw-friend');
    await prosody.register('stranger', 'pw-stranger');
    await befriend(prosody, { user: 'healthy', password: node.password }, { user: 'friend', password: 'pw-friend' });
    await node.start();
    const online = await cliStatusUntil(node.env, 'xmpp', (s) => s.state === 'up');
    assert.equal(online.summary, `online as ${node.jid}/${node.resource}`);
    assert.equal(online.reason, null);
    assert.equal(online.facts.jid, `${node.jid}/${node.resource}`);

    // A friend comes online; a stranger asks to see our presence (stored as pending until add_contact).
    sessions.push(await rawSession(prosody, 'friend', 'pw-friend', { resource: 'phone' }));
    const stranger = await rawSession(prosody, 'stranger', 'pw-stranger');
    sessions.push(stranger);
    await stranger.xmpp.send(xml('presence', { to: node.jid, type: 'subscribe' }));
    const counted = await cliStatusUntil(node.env, 'xmpp', (s) => (s.facts.contacts as { online?: number } | null)?.online === 1 && s.facts.pendingRequests === 1);
    assert.deepEqual(counted.facts.contacts, { online: 1, total: 1 });
    assert.equal(counted.state, 'up');
    const human = await runCli(['status'], node.env);
    assert.match(human.stdout, new RegExp(`^ {2}online as ${node.jid}/${node.resource}$`, 'm'));
    assert.match(human.stdout, /contacts: online 1, total 1 {2}pending requests 1/);
  });

  test('Prosody down: degraded, connecting and retrying with the last error; online again once it is back', async () => {
    assert.ok(node, 'the previous test started the node');
    for (const s of sessions.splice(0)) await s.stop();
    await prosody.stop();
    const down = await cliStatusUntil(node.env, 'xmpp', (s) => s.summary === 'connecting' && /ECONNREFUSED/.test(s.reason ?? ''));
    assert.equal(down.state, 'degraded');
    assert.match(down.reason!, /^not connected to xmpp:\/\/127\.0\.0\.1:\d+, retrying \(last error: .*ECONNREFUSED.*\): is the XMPP server up/);
    assert.equal(down.facts.connection, 'connecting');
    assert.equal(down.facts.jid, null);
    const check = await runCli(['status', '--check'], node.env);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /^xmpp degraded \(connecting\): not connected/m);

    await prosody.start();
    // The reconnect backoff doubles up to 30 s: within a minute it is back.
    const back = await cliStatusUntil(node.env, 'xmpp', (s) => s.state === 'up', 60000);
    assert.equal(back.summary, `online as ${node.jid}/${node.resource}`);
    assert.match(String(back.facts.lastError), /ECONNREFUSED|connection lost/, 'the last error stays as history');
  });
});

describe('nat without a router (router fixture namespace)', { skip: skipRouterTests('status no-router test (test/status/health)') }, () => {
  let node: NatNode;
  const PORT = 41211;

  before(async () => {
    node = await createNatNode({ daemon: false });
  });
  after(async () => {
    await node?.close();
  });

  test('no router is degraded with the reason; a router that appears makes it up: mapped <ip>:<port> via <protocol>', async () => {
    await node.storeTorrentPort(PORT);
    await node.start();
    // The router's Redis is reached through its socket from here: read the status as the CLI and dashboard do.
    const read = () => readStatus(node.bus.pub, node.namespace, () => node.db.pool.query('SELECT 1'));
    const nat = (s: Awaited<ReturnType<typeof read>>) => s.services.find((x) => x.name === 'nat')!;
    const failing = await waitUntil('nat degraded: no router', async () => {
      const s = await read();
      return nat(s).summary === 'no router' ? s : undefined;
    }, 30000);
    assert.equal(nat(failing).state, 'degraded');
    assert.match(nat(failing).reason!, /^no router maps ports for this node: .*NAT-PMP.*UPnP.*set BITWEEN_UPNP=false BITWEEN_NATPMP=false to stop asking/);
    assert.ok(failing.problems.includes(`nat degraded (no router): ${nat(failing).reason}`), failing.problems.join('\n'));

    await node.router.startDaemon();
    const mapped = await waitUntil('nat up: mapped', async () => {
      const s = await read();
      return nat(s).state === 'up' && nat(s).summary.startsWith('mapped') ? s : undefined;
    }, 30000);
    assert.match(nat(mapped).summary, new RegExp(`^mapped ${WAN_ROUTER_IP.replace(/\./g, '\\.')}:\\d+ via (NAT-PMP|UPnP IGD v[12])$`));
    assert.equal(nat(mapped).reason, null);
    assert.equal(mapped.problems.some((l) => l.startsWith('nat ')), false);
  });
});
