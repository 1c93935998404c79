// UPnP IGD (v1 and v2) behind the Mapper interface, over @silentbot1/nat-api's SSDP search and SOAP device.
// Discovery (one M-SEARCH, one description fetch) happens once and is cached until forget(); after it,
// every call is exactly one SOAP request, so a renewal never costs the router more than one.
import Device, { type ServiceInfo } from '@silentbot1/nat-api/lib/upnp/device.js';
import Ssdp from '@silentbot1/nat-api/lib/upnp/ssdp.js';
import { isIP } from 'node:net';
import { UnavailableError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { RouterRefusal, withTimeout, type Grant, type MapRequest, type Mapper, type MappingProtocol } from './mapper.js';

// IGDv2 devices answer searches for v1 too (UPnP device types are backwards compatible), so one search finds both.
const IGD = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';
/** Our M-SEARCH says MX: 1, so a router answers within a second. */
export const SSDP_TIMEOUT_MS = 1500;
export const SOAP_TIMEOUT_MS = 3000;
/** How many external ports to try when the router reports a conflict (error 718) before giving up. */
const MAX_PORT_TRIES = 4;

/** The library's Device fetches the router's description before every action; read it once per discovery. */
class CachedDevice extends Device {
  private service: Promise<ServiceInfo> | undefined;
  override _getService(types: string[]): Promise<ServiceInfo> {
    this.service ??= super._getService(types).catch((err) => {
      this.service = undefined;
      throw err;
    });
    return this.service;
  }
}

interface Gateway {
  device: CachedDevice;
  /** Our LAN address that reached the router: the internal client of our mappings. */
  localAddress: string;
  protocol: MappingProtocol;
  host: string;
}

// The library turns UPnP error codes into their text only; 718 ConflictInMappingEntry is the one we act on.
const CONFLICT = /conflicts with a mapping assigned previously/i;

export class UpnpMapper implements Mapper {
  readonly name = 'upnp' as const;
  private gateway: Promise<Gateway> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly options: { ssdpTimeoutMs?: number; soapTimeoutMs?: number } = {},
  ) {}

  private find(): Promise<Gateway> {
    this.gateway ??= this.discover().catch((err) => {
      this.gateway = undefined;
      throw err;
    });
    return this.gateway;
  }

  private async discover(): Promise<Gateway> {
    const ms = this.options.ssdpTimeoutMs ?? SSDP_TIMEOUT_MS;
    const ssdp = new Ssdp();
    let found: Awaited<ReturnType<Ssdp['search']>>;
    try {
      found = await withTimeout(ssdp.search(IGD, ms), ms + 100, 'timeout');
    } catch {
      throw new UnavailableError(`no UPnP router answered an SSDP search within ${ms} ms`);
    } finally {
      void ssdp.destroy();
    }
    if (!found) throw new UnavailableError('the UPnP device that answered is not an Internet Gateway Device');
    const device = new CachedDevice({ url: found.device.url, permanentFallback: true });
    const host = new URL(device.url).host;
    let info: ServiceInfo;
    try {
      info = await withTimeout(device._getService(device.services), this.soapTimeout, `the UPnP router at ${host} sent no description`);
    } catch (err) {
      throw new UnavailableError(`the UPnP router at ${host} has no usable WAN connection service: ${errorMessage(err)}`, { cause: err });
    }
    const protocol: MappingProtocol = /:2$/.test(info.service) ? 'upnp-igd2' : 'upnp-igd1';
    this.log.debug({ url: device.url, service: info.service, localAddress: found.address }, 'UPnP router found');
    return { device, localAddress: found.address, protocol, host };
  }

  private get soapTimeout(): number {
    return this.options.soapTimeoutMs ?? SOAP_TIMEOUT_MS;
  }

  private async action(action: string, args: [string, string | number][]): Promise<Record<string, unknown>> {
    const gw = await this.find();
    try {
      return await withTimeout(gw.device.run(action, args), this.soapTimeout, `the UPnP router at ${gw.host} did not answer ${action} within ${this.soapTimeout} ms`);
    } catch (err) {
      if (err instanceof UnavailableError) throw err;
      const reason = errorMessage(err);
      // fetch rejects with TypeError('fetch failed') when nothing listens there any more (router restarted).
      if (err instanceof TypeError) throw new UnavailableError(`the UPnP router at ${gw.host} does not answer ${action}: ${reason}`, { cause: err });
      throw new RouterRefusal(`the UPnP router at ${gw.host} refused ${action}: ${reason}`, CONFLICT.test(reason), { cause: err });
    }
  }

  async externalIp(): Promise<string> {
    const body = await this.action('GetExternalIPAddress', []);
    const key = Object.keys(body).find((k) => /GetExternalIPAddressResponse$/.test(k));
    const ip = key ? (body[key] as { NewExternalIPAddress?: unknown }).NewExternalIPAddress : undefined;
    if (typeof ip !== 'string' || isIP(ip) !== 4) {
      throw new UnavailableError('the UPnP router reports no external IPv4 address (is its internet connection up?)');
    }
    return ip;
  }

  async map(req: MapRequest): Promise<Grant> {
    const gw = await this.find();
    let refusal: unknown;
    for (const externalPort of req.externalPorts.slice(0, MAX_PORT_TRIES)) {
      try {
        await this.action('AddPortMapping', [
          ['NewRemoteHost', ''],
          ['NewExternalPort', externalPort],
          ['NewProtocol', 'TCP'],
          ['NewInternalPort', req.internalPort],
          ['NewInternalClient', gw.localAddress],
          ['NewEnabled', 1],
          ['NewPortMappingDescription', req.description],
          ['NewLeaseDuration', req.lifetimeSeconds],
        ]);
        // AddPortMapping does not echo the lease; a router that only knows permanent leases (error 725) got
        // one instead (the library retries with 0): renewing at half the asked lifetime is harmless then.
        return { protocol: gw.protocol, externalPort, internalPort: req.internalPort, lifetimeSeconds: req.lifetimeSeconds };
      } catch (err) {
        if (!(err instanceof RouterRefusal && err.conflict)) throw err;
        this.log.debug({ externalPort }, 'external port taken on the router: trying the next one');
        refusal = err;
      }
    }
    throw refusal;
  }

  async unmap(m: { internalPort: number; externalPort: number }): Promise<void> {
    await this.action('DeletePortMapping', [
      ['NewRemoteHost', ''],
      ['NewExternalPort', m.externalPort],
      ['NewProtocol', 'TCP'],
    ]);
  }

  forget(): void {
    this.gateway = undefined;
  }

  async close(): Promise<void> {
    this.forget();
  }
}
