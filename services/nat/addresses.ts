// The node's own addresses as contacts should see them: interface addresses worth dialling plus the
// router's external IPv4. Kept current; a change is persisted and announced (AddressBook).
import { isIP } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { dialableAddress } from '../../lib/address.js';

export interface AddressPolicy {
  ipv4: boolean;
  ipv6: boolean;
  /** BITWEEN_ALLOW_LOOPBACK: loopback addresses are published too (tests, one-machine setups). */
  allowLoopback: boolean;
}

/** IPv4 before IPv6, then by text: a stable order, so that "changed" means changed. */
function compareAddresses(a: string, b: string): number {
  return isIP(a) - isIP(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Interface addresses and the external IPv4 that pass the rule contacts apply (lib/address.ts: no loopback
 * unless allowed, no link-local, unspecified, multicast...; a router without a WAN link reports 0.0.0.0), in
 * canonical spelling, minus disabled families.
 */
export function ownAddresses(
  policy: AddressPolicy,
  externalIp: string | undefined,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const found = new Set<string>();
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      if (a.internal && !policy.allowLoopback) continue;
      const address = dialableAddress(a.address, policy);
      if (address === undefined || (isIP(address) === 4 ? !policy.ipv4 : !policy.ipv6)) continue;
      found.add(address);
    }
  }
  const external = dialableAddress(externalIp, policy);
  if (external && policy.ipv4) found.add(external);
  return [...found].sort(compareAddresses);
}

export function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Holds the current list; `refresh()` recomputes it and calls `onChange` (persist, announce) when it differs. */
export class AddressBook {
  private externalIp: string | undefined;
  private work: Promise<void> = Promise.resolve();

  constructor(
    private readonly policy: AddressPolicy,
    private current: string[],
    private readonly onChange: (addresses: string[]) => Promise<void>,
    private readonly read: () => NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces,
  ) {}

  get addresses(): readonly string[] {
    return this.current;
  }

  setExternalIp(ip: string | undefined): Promise<void> {
    this.externalIp = ip;
    return this.refresh();
  }

  /** Serialized, so that a timer and the renew loop never announce out of order. */
  refresh(): Promise<void> {
    // A failed onChange (store down) leaves `current` as it was, so the next refresh tries again.
    this.work = this.work.catch(() => undefined).then(async () => {
      const next = ownAddresses(this.policy, this.externalIp, this.read());
      if (sameAddresses(next, this.current)) return;
      await this.onChange(next);
      this.current = next;
    });
    return this.work;
  }
}
