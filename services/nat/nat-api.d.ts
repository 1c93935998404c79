// The parts of @silentbot1/nat-api 0.4.9 (webtorrent's own port mapper; ships no types) that the NAT
// service uses. Its top-level NatAPI class is not used: its refresh timers are broken (NOTES.md), it
// enforces a 20-minute minimum lease, and it reports neither the granted port nor the lifetime.
declare module '@silentbot1/nat-api/lib/pmp/index.js' {
  import { EventEmitter } from 'node:events';

  export interface PmpMappingReply {
    internal: number;
    external: number;
    /** The lifetime the router granted, in seconds. */
    ttl: number;
    epoch: number;
  }

  /** NAT-PMP (RFC 6886) client; one UDP socket bound to port 5350, requests answered one at a time. */
  export default class PmpClient extends EventEmitter {
    constructor(gateway: string);
    gateway: string;
    socket: unknown;
    portMapping(opts: { private: number; public: number; ttl: number; type: 'tcp' | 'udp' }): Promise<PmpMappingReply>;
    portUnmapping(opts: { private: number; public: number; type: 'tcp' | 'udp' }): Promise<PmpMappingReply>;
    externalIp(): Promise<string>;
    close(): Promise<void>;
  }
}

declare module '@silentbot1/nat-api/lib/upnp/device.js' {
  export interface ServiceInfo {
    service: string;
    SCPDURL: string;
    controlURL: string;
  }

  /** A UPnP IGD found by SSDP: reads its description, sends SOAP actions to its WAN*Connection service. */
  export default class Device {
    constructor(opts: { url: string; permanentFallback?: boolean });
    url: string;
    services: string[];
    run(action: string, args: [string, string | number][]): Promise<Record<string, unknown>>;
    _getService(types: string[]): Promise<ServiceInfo>;
  }
}

declare module '@silentbot1/nat-api/lib/upnp/ssdp.js' {
  import { EventEmitter } from 'node:events';
  import type Device from '@silentbot1/nat-api/lib/upnp/device.js';

  /** SSDP M-SEARCH over one UDP socket per non-internal interface address. */
  export default class Ssdp extends EventEmitter {
    constructor(opts?: { permanentFallback?: boolean });
    /** Resolves with the first device that answers (and the local address that reached it), rejects on timeout. */
    search(st: string, timeoutMs: number): Promise<{ device: Device; address: string } | undefined>;
    destroy(): Promise<unknown>;
  }
}

declare module 'default-gateway' {
  export function gateway4async(): Promise<{ gateway: string; version: number; int: string | null }>;
}
