// Renewal against the real miniupnpd with a 3-second lease: the mapping must outlive several lease periods,
// and the router must see exactly one request per renewal (counted in its own log), nothing else.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CLIENT_IP, skipRouterTests, type TestRouter } from '../fixtures/router.js';
import { createNatNode, waitUntil, type NatNode } from '../fixtures/nat-node.js';

const LEASE_S = 3;
/** Four lease periods: a mapping that is not renewed is gone after the first. */
const WATCH_MS = 4 * LEASE_S * 1000;
const PORT = 41101;

interface Case {
  name: string;
  env: Record<string, string>;
  /** Router log lines: every request from the client, and the mapping requests among them. */
  requests: RegExp;
  mappings: RegExp;
  /** Requests besides the mapping ones: discovery (+ description for UPnP) and the removal on exit. */
  overhead: number;
}

const client = CLIENT_IP.replace(/\./g, '\\.');
const cases: Case[] = [
  {
    name: 'NAT-PMP',
    env: { BITWEEN_UPNP: 'false' },
    requests: new RegExp(`NAT-PMP request received from ${client}:`),
    mappings: new RegExp(`NAT-PMP port mapping request : \\d+->${client}:${PORT} tcp lifetime=[1-9]`),
    overhead: 2, // public address request, removal (lifetime 0)
  },
  {
    name: 'UPnP',
    env: { BITWEEN_NATPMP: 'false' },
    requests: new RegExp(`(HTTP REQUEST|SSDP M-SEARCH) from \\[?(::ffff:)?${client}\\]?:`),
    mappings: new RegExp(`AddPortMapping: ext port \\d+ to ${client}:${PORT} protocol TCP`),
    overhead: 4, // M-SEARCH, description, GetExternalIPAddress, DeletePortMapping
  },
];

const skip = skipRouterTests('NAT renewal tests (test/nat/renew)');

for (const c of cases) {
  describe(`bitween-nat renews a ${LEASE_S} s ${c.name} lease`, { skip }, () => {
    let node: NatNode;
    let router: TestRouter;

    before(async () => {
      node = await createNatNode({ upnp: true, natpmp: true, igd: 2 });
      router = node.router;
      await router.listen(PORT);
    });
    after(async () => {
      await node?.close();
    });

    test('the mapping outlives several lease periods, one request per renewal', async (t) => {
      await node.storeTorrentPort(PORT);
      const requestsBefore = router.countLog(c.requests);
      const mark = node.bus.mark();
      const service = await node.start({ ...c.env, BITWEEN_NAT_LEASE_SECONDS: String(LEASE_S) });
      const external = (await node.bus.waitFor('set_port', () => true, 15000, mark)).args[0] as number;

      // Sample the router's forwards throughout: one missing sample means the lease lapsed.
      const deadline = Date.now() + WATCH_MS;
      let samples = 0;
      while (Date.now() < deadline) {
        const forwards = router.forwards();
        assert.deepEqual(forwards, [{ externalPort: external, internalIp: CLIENT_IP, internalPort: PORT }], `lapsed after ${samples} samples`);
        samples += 1;
        await sleep(250);
      }
      assert.equal(await router.connectFromWan(external), `bitween-client ${PORT}`);

      await node.bus.publish('exit');
      assert.equal(await service.exited, 0);
      const renewals = service.output.filter((l) => l.includes('mapping renewed')).length;
      const mappingRequests = router.countLog(c.mappings);
      const allRequests = router.countLog(c.requests) - requestsBefore;
      t.diagnostic(`${renewals} renewals in ${WATCH_MS} ms; router saw ${mappingRequests} mapping requests, ${allRequests} in all`);
      // Renewing at half the lease: about two renewals per lease period.
      assert.ok(renewals >= 2 * (WATCH_MS / 1000 / LEASE_S) - 2, `only ${renewals} renewals in ${WATCH_MS} ms`);
      assert.equal(mappingRequests, 1 + renewals, 'one mapping request to start, then one per renewal');
      assert.equal(allRequests, mappingRequests + c.overhead, 'no other requests reached the router');
      assert.deepEqual(router.forwards(), []);
    });

    test('a router restart (rules gone, new HTTP port) is noticed at the next renewal and mapped again', async () => {
      await node.storeTorrentPort(PORT);
      const mark = node.bus.mark();
      const service = await node.start({ ...c.env, BITWEEN_NAT_LEASE_SECONDS: String(LEASE_S) });
      const external = (await node.bus.waitFor('set_port', () => true, 15000, mark)).args[0] as number;
      // A reboot: the daemon goes, its rules with it; it comes back on a new HTTP port, knowing nothing.
      await router.stopDaemon();
      router.flushRules();
      assert.deepEqual(router.forwards(), []);
      await router.startDaemon();
      await waitUntil('the mapping back on the restarted router', () => {
        const f = router.forwards();
        return f.length === 1 && f[0]!.externalPort === external && f[0]!.internalPort === PORT ? f : undefined;
      }, 10000);
      assert.equal(await router.connectFromWan(external), `bitween-client ${PORT}`);
      assert.equal(service.child.exitCode, null);
      assert.equal(await service.stop(), 0);
    });
  });
}
