// bitween-nat against the real miniupnpd, once per protocol: NAT-PMP, UPnP IGDv2, UPnP IGDv1. Each case maps
// the torrent port, proves it from the WAN side with a TCP connection, moves it with a new bt_ready, removes
// it on `exit`, and survives a kill -9 + restart without leaving a second mapping behind.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_IP, WAN_ROUTER_IP, skipRouterTests, type NsProcess } from '../fixtures/router.js';
import type { ServiceProcess } from '../helpers/process.js';
import { createNatNode, waitUntil, type NatNode } from '../fixtures/nat-node.js';

interface Case {
  name: string;
  router: { upnp: boolean; natpmp: boolean; igd: 1 | 2 };
  env: Record<string, string>;
  protocol: 'natpmp' | 'upnp-igd1' | 'upnp-igd2';
  /** How the service learns the port first: the stored port (torrent started earlier) or a bt_ready. */
  firstPort: 'stored' | 'bt_ready';
}

const cases: Case[] = [
  // Both protocols on both sides: NAT-PMP is tried first and wins.
  { name: 'NAT-PMP', router: { upnp: true, natpmp: true, igd: 2 }, env: {}, protocol: 'natpmp', firstPort: 'bt_ready' },
  // The router serves UPnP only: NAT-PMP gets no answer, the service falls back to UPnP.
  { name: 'UPnP IGDv2', router: { upnp: true, natpmp: false, igd: 2 }, env: {}, protocol: 'upnp-igd2', firstPort: 'stored' },
  { name: 'UPnP IGDv1', router: { upnp: true, natpmp: true, igd: 1 }, env: { BITWEEN_NATPMP: 'false' }, protocol: 'upnp-igd1', firstPort: 'bt_ready' },
];

const skip = skipRouterTests('NAT port-mapping tests (test/nat/protocols)');

for (const c of cases) {
  describe(`bitween-nat maps the torrent port by ${c.name}`, { skip }, () => {
    let node: NatNode;
    const listeners: NsProcess[] = [];
    let service: ServiceProcess;
    const PORT = 41001;
    const MOVED = 41002;

    before(async () => {
      node = await createNatNode(c.router);
      listeners.push(await node.router.listen(PORT), await node.router.listen(MOVED));
    });
    after(async () => {
      await node?.close();
    });

    test('maps, is reachable from the WAN, publishes set_port, records the external IP', async () => {
      if (c.firstPort === 'stored') await node.storeTorrentPort(PORT);
      const mark = node.bus.mark();
      service = await node.start(c.env);
      if (c.firstPort === 'bt_ready') await node.bus.publish('bt_ready', [PORT]);

      const setPort = await node.bus.waitFor('set_port', () => true, 15000, mark);
      const external = setPort.args[0];
      assert.equal(typeof external, 'number');
      assert.deepEqual(node.router.forwards(), [{ externalPort: external, internalIp: CLIENT_IP, internalPort: PORT }]);
      assert.equal(await node.router.connectFromWan(external as number), `bitween-client ${PORT}`);

      const mapping = await node.mapping();
      assert.equal(mapping?.status, 'mapped');
      assert.equal(mapping?.protocol, c.protocol);
      assert.equal(mapping?.externalPort, external);
      assert.equal(mapping?.internalPort, PORT);
      assert.equal(mapping?.externalIp, WAN_ROUTER_IP);
      assert.ok(mapping?.expiresAt && Date.parse(mapping.expiresAt) > Date.now());

      const addresses = await waitUntil('the external IP among the addresses', async () => {
        const a = await node.addresses();
        return a?.includes(WAN_ROUTER_IP) ? a : undefined;
      });
      assert.ok(addresses.includes(CLIENT_IP), `own LAN address missing from ${addresses}`);
      assert.ok(!addresses.includes('127.0.0.1'), 'loopback must not be published by default');
      const changed = await node.bus.waitFor('addresses_changed', (m) => (m.args[0] as string[]).includes(WAN_ROUTER_IP), 5000, mark);
      assert.deepEqual(changed.args[0], addresses);
    });

    test('a new listen port moves the mapping: one forward, to the new port', async () => {
      const mark = node.bus.mark();
      await node.bus.publish('bt_ready', [MOVED]);
      const setPort = await node.bus.waitFor('set_port', () => true, 10000, mark);
      const external = setPort.args[0] as number;
      await waitUntil('exactly one forward, to the new port', () => {
        const f = node.router.forwards();
        return f.length === 1 && f[0]!.internalPort === MOVED ? f : undefined;
      }, 5000);
      assert.equal(await node.router.connectFromWan(external), `bitween-client ${MOVED}`);
      assert.equal((await node.mapping())?.internalPort, MOVED);
    });

    test('a restart after kill -9 reuses its mapping; `exit` removes it and exits 0', async () => {
      const first = (await node.mapping())!;
      await service.kill9();
      assert.equal(node.router.forwards().length, 1, 'kill -9 leaves the mapping on the router');
      // The torrent service keeps its port in the store; a NAT service starting later reads it there.
      await node.storeTorrentPort(MOVED);
      const mark = node.bus.mark();
      service = await node.start(c.env);
      const setPort = await node.bus.waitFor('set_port', () => true, 15000, mark);
      assert.equal(setPort.args[0], first.externalPort, 'the restarted service asks for the same external port');
      assert.deepEqual(node.router.forwards(), [{ externalPort: first.externalPort, internalIp: CLIENT_IP, internalPort: MOVED }]);

      await node.bus.publish('exit');
      assert.equal(await service.exited, 0);
      assert.deepEqual(node.router.forwards(), [], 'exit removes the mapping before the process ends');
      const mapping = await node.mapping();
      assert.equal(mapping?.status, 'stopped');
      assert.equal(mapping?.externalPort, null);
    });
  });
}
