// What bitween-xmpp says of itself in its heartbeat (`bitween status`, the dashboard): the login's state
// as health, the contacts online out of all, the subscription requests waiting for `add_contact`, and what
// the account item carries of ours (publish.ts's PublishFacts).
import type pg from 'pg';
import { contactCounts } from '../../lib/store/contacts.js';
import { degraded, healthy, type Health } from '../../lib/status.js';
import { within } from '../../lib/within.js';
import type { ConnectionState } from './connection.js';
import type { PublishFacts } from './publish.js';

export const NO_ACCOUNT: Health = degraded(
  'no account',
  'no XMPP account configured: set BITWEEN_JID and BITWEEN_PASSWORD and restart bitween-xmpp (contacts cannot see your shares until then)',
);

/** The login's state as health: only a session that is up is `up`; everything else says why and what to do. */
export function xmppHealth(s: ConnectionState, account: string): Health {
  const last = s.lastError ? ` (last error: ${s.lastError})` : '';
  switch (s.phase) {
    case 'online':
      return healthy(`online as ${s.jid ?? account}`);
    case 'auth failed':
      return degraded('auth failed', `the XMPP server ${s.server} refused the login of ${account}${last}: check BITWEEN_JID and BITWEEN_PASSWORD; retrying every minute`);
    case 'login refused':
      return degraded('login refused', `not logging in to ${s.server}${last}`);
    case 'connecting':
      return degraded(
        'connecting',
        s.lastError ? `not connected to ${s.server}, retrying${last}: is the XMPP server up, BITWEEN_XMPP_SERVICE right?` : `logging in to ${s.server}`,
      );
  }
}

/** How long the heartbeat waits for the contact counts before it shows the last ones (the store may be away). */
const COUNTS_WAIT_MS = 1000;

type Counts = Awaited<ReturnType<typeof contactCounts>>;

/** The heartbeat's facts; the counts come from the store, the last known ones while it does not answer. */
export function xmppFacts(db: pg.Pool, state: () => ConnectionState, account: string, publish: PublishFacts): () => Promise<Record<string, unknown>> {
  let counts: Counts | null = null;
  return async () => {
    counts = await within(contactCounts(db).catch(() => counts), COUNTS_WAIT_MS, counts);
    const s = state();
    return {
      connection: s.phase,
      jid: s.jid,
      server: s.server,
      logins: s.logins,
      contacts: counts && { online: counts.online, total: counts.total },
      pendingRequests: counts?.pendingRequests ?? null,
      published: publish.published,
      publishes: publish.publishes,
      lastError: s.lastError,
      lastErrorAt: s.lastErrorAt,
      health: xmppHealth(s, account),
    };
  };
}
