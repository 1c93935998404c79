// A LAN whose router maps nothing (miniupnpd not running): the service keeps running, says so once in its
// log, reports it in its status, backs off, and maps as soon as the router starts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_IP, WAN_ROUTER_IP, skipRouterTests } from '../fixtures/router.js';
import { createNatNode, waitUntil, type NatNode } from '../fixtures/nat-node.js';

const PORT = 41201;
const skip = skipRouterTests('NAT no-router test (test/nat/no-router)');

describe('bitween-nat without a router', { skip }, () => {
  let node: NatNode;

  before(async () => {
    node = await createNatNode({ daemon: false });
    await node.router.listen(PORT);
  });
  after(async () => {
    await node?.close();
  });

  test('keeps running, reports the failure, maps once the router appears', async () => {
    await node.storeTorrentPort(PORT);
    const mark = node.bus.mark();
    const service = await node.start();

    const failed = await waitUntil('the failure in the stored status', async () => {
      const m = await node.mapping();
      return m?.status === 'retrying' ? m : undefined;
    });
    assert.match(failed.lastError ?? '', /no router maps ports/);
    assert.match(failed.lastError ?? '', /NAT-PMP/);
    assert.match(failed.lastError ?? '', /UPnP/);
    assert.equal(failed.externalPort, null);
    assert.ok(failed.nextAttemptAt, 'the status says when it tries again');

    // `bitween status` reads the heartbeat: it carries the same status.
    const beat = await waitUntil('a heartbeat with the failure', async () => {
      const raw = await node.bus.pub.get(`${node.namespace}:heartbeat:nat`);
      const facts = raw ? (JSON.parse(raw).facts as { status?: string; lastError?: string }) : undefined;
      return facts?.status === 'retrying' ? facts : undefined;
    });
    assert.match(beat.lastError ?? '', /no router maps ports/);

    // A second failed attempt is logged at debug only: one warning per outage, not one per attempt.
    await service.waitForLine(/"attempt":2/, 15000);
    assert.equal(service.output.filter((l) => l.includes('"level":40') && l.includes('no router maps ports')).length, 1);
    assert.equal(service.child.exitCode, null, 'still running');
    assert.equal(node.bus.count('set_port', mark), 0);

    await node.router.startDaemon();
    const setPort = await node.bus.waitFor('set_port', () => true, 20000, mark);
    const external = setPort.args[0] as number;
    assert.deepEqual(node.router.forwards(), [{ externalPort: external, internalIp: CLIENT_IP, internalPort: PORT }]);
    assert.equal(await node.router.connectFromWan(external), `bitween-client ${PORT}`);
    const mapped = await node.mapping();
    assert.equal(mapped?.status, 'mapped');
    assert.equal(mapped?.externalIp, WAN_ROUTER_IP);
    assert.match(mapped?.lastError ?? '', /no router maps ports/, 'the last error stays visible as history');
    assert.match(service.output.join('\n'), /the router answers again/);

    // SIGTERM (pm2 stop) takes the same path as `exit`: the mapping goes, the process exits 0.
    assert.equal(await service.stop(), 0);
    assert.deepEqual(node.router.forwards(), []);
  });
});

describe('bitween-nat with a router that refuses the port', { skip }, () => {
  let node: NatNode;
  const ALLOWED = 41301;

  before(async () => {
    node = await createNatNode();
    await node.router.listen(ALLOWED);
  });
  after(async () => {
    await node?.close();
  });

  test('reports the refusal, keeps running, maps the next port the router allows', async () => {
    // The router's permission rules allow external and internal ports 1024-65535 only.
    await node.storeTorrentPort(900);
    const mark = node.bus.mark();
    // UPnP: miniupnpd's NAT-PMP answers a refused port only after trying every other external port.
    const service = await node.start({ BITWEEN_NATPMP: 'false' });
    const refused = await waitUntil('the refusal in the stored status', async () => {
      const m = await node.mapping();
      return m?.status === 'retrying' ? m : undefined;
    });
    assert.match(refused.lastError ?? '', /refused AddPortMapping/);
    assert.equal(refused.externalIp, WAN_ROUTER_IP, 'the router answered; only the mapping was refused');
    assert.equal(service.child.exitCode, null);

    await node.bus.publish('bt_ready', [ALLOWED]);
    const setPort = await node.bus.waitFor('set_port', () => true, 10000, mark);
    assert.deepEqual(node.router.forwards(), [{ externalPort: setPort.args[0], internalIp: CLIENT_IP, internalPort: ALLOWED }]);
  });
});
