// What bitween-nat says of itself in its heartbeat (`bitween status`, the dashboard), from its mapping state:
// a mapping in place, mapping turned off, or still looking are `up`; a router that does not answer or refuses
// is `degraded` (contacts may not reach this node), with the last error, which says what to do.
import { degraded, healthy, type Health } from '../../lib/status.js';
import type { NatMappingState } from '../../lib/store/state.js';

const PROTOCOL_NAMES: Record<NonNullable<NatMappingState['protocol']>, string> = {
  natpmp: 'NAT-PMP',
  'upnp-igd1': 'UPnP IGD v1',
  'upnp-igd2': 'UPnP IGD v2',
};

export function natHealth(s: NatMappingState): Health {
  const protocol = s.protocol ? PROTOCOL_NAMES[s.protocol] ?? s.protocol : 'the router';
  const mapped = `${s.externalIp ?? 'external'}:${s.externalPort}`;
  switch (s.status) {
    case 'off':
      return healthy('port mapping off');
    case 'mapped':
      return healthy(`mapped ${mapped} via ${protocol}`);
    case 'searching':
      return healthy('looking for a router');
    case 'waiting':
      return healthy(`router found${s.externalIp ? ` (external address ${s.externalIp})` : ''}, waiting for the torrent port`);
    case 'stopped':
      return degraded('stopped', 'the service is shutting down and removed its mapping');
    case 'retrying': {
      const last = s.lastError ?? 'no answer';
      // Nothing answered: no external address learned, nothing mapped.
      if (s.externalIp === null && s.externalPort === null) return degraded('no router', last);
      if (s.externalPort !== null) {
        return degraded('retrying', `the router stopped answering (last error: ${last}); the mapping ${mapped} holds until ${s.expiresAt}, retrying with backoff`);
      }
      return degraded('retrying', `retrying with backoff (last error: ${last})`);
    }
  }
}
