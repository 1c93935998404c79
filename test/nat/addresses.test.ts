// Own addresses: the filter (unit), and the service with port mapping off in the host namespace, where it
// must send nothing to any router (BITWEEN_UPNP=false BITWEEN_NATPMP=false) but still keep nat.addresses.
import assert from 'node:assert/strict';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { getState, StateKey, type NatAddressesState, type NatMappingState } from '../../lib/store/state.js';
import { AddressBook, ownAddresses } from '../../services/nat/addresses.js';
import { TestBus, newNamespace, REDIS_URL } from '../helpers/bus.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startServiceReady, type ServiceProcess } from '../helpers/process.js';

function iface(address: string, internal = false): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return v6
    ? { address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal, cidr: null, scopeid: 0 }
    : { address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: null };
}

const interfaces = {
  lo: [iface('127.0.0.1', true), iface('::1', true)],
  eth0: [iface('192.168.1.20'), iface('fe80::1'), iface('2001:db8::20')],
  wg0: [iface('10.8.0.2'), iface('169.254.3.4')],
};

describe('own addresses', () => {
  test('interface addresses minus loopback and link-local, plus the external IPv4, IPv4 first', () => {
    const all = { ipv4: true, ipv6: true, allowLoopback: false };
    assert.deepEqual(ownAddresses(all, '203.0.113.7', interfaces), ['10.8.0.2', '192.168.1.20', '203.0.113.7', '2001:db8::20']);
  });

  test('families turned off are left out, the external IPv4 too when IPv4 is off', () => {
    assert.deepEqual(ownAddresses({ ipv4: false, ipv6: true, allowLoopback: false }, '203.0.113.7', interfaces), ['2001:db8::20']);
    assert.deepEqual(ownAddresses({ ipv4: true, ipv6: false, allowLoopback: false }, undefined, interfaces), ['10.8.0.2', '192.168.1.20']);
  });

  test('BITWEEN_ALLOW_LOOPBACK publishes loopback too', () => {
    assert.deepEqual(ownAddresses({ ipv4: true, ipv6: true, allowLoopback: true }, undefined, { lo: interfaces.lo }), ['127.0.0.1', '::1']);
  });

  test('AddressBook announces a change once, and again only when the list changes', async () => {
    const seen: string[][] = [];
    let current = { eth0: [iface('192.168.1.20')] } as Record<string, NetworkInterfaceInfo[]>;
    const book = new AddressBook({ ipv4: true, ipv6: true, allowLoopback: false }, [], async (a) => void seen.push(a), () => current);
    await book.refresh();
    await book.refresh();
    await book.setExternalIp('203.0.113.7');
    await book.setExternalIp('203.0.113.7');
    current = { eth0: [iface('192.168.1.21')] };
    await book.refresh();
    assert.deepEqual(seen, [['192.168.1.20'], ['192.168.1.20', '203.0.113.7'], ['192.168.1.21', '203.0.113.7']]);
  });
});

describe('bitween-nat with port mapping off', () => {
  let db: TestDatabase;
  let bus: TestBus;
  let service: ServiceProcess;
  const namespace = newNamespace('natoff');

  before(async () => {
    db = await createTestDatabase();
    bus = await TestBus.open(namespace);
    service = await startServiceReady('nat', {
      BITWEEN_NAMESPACE: namespace,
      BITWEEN_DATABASE_URL: db.url,
      BITWEEN_REDIS_URL: REDIS_URL,
      BITWEEN_UPNP: 'false',
      BITWEEN_NATPMP: 'false',
      BITWEEN_IPV6: 'false',
    });
  });
  after(async () => {
    await service?.kill9();
    await bus?.close();
    await db?.drop();
  });

  test('keeps its interface addresses and says mapping is off', async () => {
    const stored = await getState<NatAddressesState>(db.pool, StateKey.addresses);
    assert.deepEqual(stored?.addresses, ownAddresses({ ipv4: true, ipv6: false, allowLoopback: false }, undefined, networkInterfaces()));
    const mapping = await getState<NatMappingState>(db.pool, StateKey.mapping);
    assert.equal(mapping?.status, 'off');
    assert.deepEqual(mapping?.protocols, []);
    assert.equal(mapping?.externalPort, null);
  });

  test('a bad bt_ready is reported on the error topic and changes nothing', async () => {
    const mark = bus.mark();
    await bus.publish('bt_ready', ['not a port']);
    const err = await bus.waitFor('error', (m) => m.error?.topic === 'bt_ready', 5000, mark);
    assert.equal(err.error?.service, 'nat');
    assert.match(err.error?.error ?? '', /bt_ready needs the listen port/);
    await bus.publish('bt_ready', [51413]);
    await bus.publish('bt_ready', [1, 2]);
    await bus.waitFor('error', (m) => /takes 1 argument/.test(m.error?.error ?? ''), 5000, mark);
    assert.equal(service.child.exitCode, null, 'still running');
    assert.equal(bus.count('set_port', mark), 0, 'nothing is mapped with both protocols off');
  });

  test('exit stops it with code 0', async () => {
    await bus.publish('exit');
    assert.equal(await service.exited, 0);
  });
});
