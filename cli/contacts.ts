// `bitween contacts`: the roster with online state, share counts and requests waiting for an answer, in both
// directions (theirs to you, yours to them);
// `contacts add JID` / `contacts remove JID` ask the xmpp service and wait until the roster in the store
// shows the change (or the service refuses).
import { BadInputError, NotFoundError, UnavailableError } from '../lib/errors.js';
import { listRoster, type RosterEntry } from '../lib/store/browse.js';
import { clean, json, table } from './format.js';
import { Replies } from './replies.js';
import { out } from './run.js';
import type { Session } from './session.js';

/** Bare JIDs only: a contact is an account, not one of its resources. */
export function requireBareJid(input: string): string {
  const jid = input.trim();
  if (!/^[^@/\s]+@[^@/\s]+$/.test(jid)) throw new BadInputError(`"${input}" is not a JID like friend@example.org`);
  // XMPP compares the local part and domain case-insensitively; the server stores them lower-case.
  return jid.toLowerCase();
}

/** They asked to see our presence and we have not answered (an answered request clears pendingIn). */
function asksUs(c: RosterEntry): boolean {
  return c.pendingIn && (c.subscription === 'none' || c.subscription === 'to');
}

/** We asked to see theirs and they have not answered. */
function waitsForThem(c: RosterEntry): boolean {
  return c.pendingOut && (c.subscription === 'none' || c.subscription === 'from');
}

/** What the relation means to a user. */
export function relation(c: RosterEntry): string {
  if (c.subscription === 'both') return 'contact';
  if (asksUs(c)) return 'asks to be your contact';
  if (waitsForThem(c)) return 'waiting for them to accept';
  if (c.subscription === 'to') return 'you see them';
  if (c.subscription === 'from') return 'they see you';
  return 'none';
}

/** Presence is seen only with a subscription to theirs: otherwise whether they are online is unknown. */
function onlineText(c: RosterEntry): string {
  if (c.subscription !== 'to' && c.subscription !== 'both') return '-';
  return c.online ? 'yes' : 'no';
}

export function renderRoster(roster: RosterEntry[], width?: number): string {
  if (roster.length === 0) return 'no contacts yet: `bitween contacts add friend@example.org` asks someone';
  const lines = [
    table(
      roster,
      [
        { header: 'CONTACT', value: (c) => c.jid, flex: true, minWidth: 16 },
        { header: 'RELATION', value: relation },
        { header: 'ONLINE', value: onlineText },
        { header: 'SHARES', value: (c) => String(c.shares), align: 'right' },
      ],
      width,
    ),
  ];
  const asking = roster.filter(asksUs);
  if (asking.length > 0) {
    lines.push('', 'Waiting for your answer:');
    for (const c of asking) lines.push(`  ${clean(c.jid)}: accept with \`bitween contacts add ${clean(c.jid)}\`, refuse with \`bitween contacts remove ${clean(c.jid)}\``);
  }
  const asked = roster.filter((c) => !asksUs(c) && waitsForThem(c));
  if (asked.length > 0) {
    lines.push('', 'Waiting for their answer:');
    for (const c of asked) lines.push(`  ${clean(c.jid)}: asked to be your contact; \`bitween contacts remove ${clean(c.jid)}\` withdraws it`);
  }
  return lines.join('\n');
}

export async function contactsCommand(session: Session, options: { json?: boolean }): Promise<number> {
  const roster = await listRoster(await session.db());
  await out(options.json ? json(roster) : renderRoster(roster));
  return 0;
}

/** How long add/remove wait for the roster in the store to show the change. */
export const ROSTER_WAIT_MS = 10000;

async function changeContact(
  session: Session,
  topic: 'add_contact' | 'remove_contact',
  jid: string,
  settled: (entry: RosterEntry | undefined) => boolean,
  timeoutS: number | undefined,
): Promise<RosterEntry | undefined> {
  const db = await session.db();
  const beat = await session.requireService('xmpp');
  if (beat.facts.connected === false) {
    throw new UnavailableError(`the xmpp service is not connected to its XMPP server: \`bitween status\` and \`pm2 logs bitween-xmpp\` say why`);
  }
  const replies = await Replies.open(session, []);
  const payload = await session.publish('xmpp', topic, [jid]);
  let entry: RosterEntry | undefined;
  await replies.wait({
    service: 'xmpp',
    pid: beat.pid,
    payload,
    what: `${topic === 'add_contact' ? 'adding' : 'removing'} ${jid}`,
    timeoutMs: (timeoutS ?? ROSTER_WAIT_MS / 1000) * 1000,
    pick: () => undefined,
    pollMs: 200,
    poll: async () => {
      entry = (await listRoster(db)).find((c) => c.jid === jid);
      return settled(entry) ? true : undefined;
    },
  });
  return entry;
}

export async function contactsAddCommand(session: Session, input: string, options: { json?: boolean; timeout?: number }): Promise<number> {
  const jid = requireBareJid(input);
  // Settled once the server's roster push reached the store: we asked, or they already see us both ways.
  const entry = await changeContact(session, 'add_contact', jid, (c) => c !== undefined && (c.pendingOut || c.subscription === 'to' || c.subscription === 'both'), options.timeout);
  if (options.json) {
    await out(json(entry ?? null));
    return 0;
  }
  const state = entry ? relation(entry) : 'waiting for them to accept';
  await out(state === 'contact' ? `${clean(jid)} is a contact` : `asked ${clean(jid)}; they become a contact once they accept (\`bitween contacts\` shows it)`);
  return 0;
}

export async function contactsRemoveCommand(session: Session, input: string, options: { json?: boolean; timeout?: number }): Promise<number> {
  const jid = requireBareJid(input);
  const known = (await listRoster(await session.db())).find((c) => c.jid === jid);
  if (!known) throw new NotFoundError(`${jid} is not in your contacts: \`bitween contacts\` lists them`);
  await changeContact(session, 'remove_contact', jid, (c) => c === undefined || (c.subscription === 'none' && !c.pendingOut && !c.pendingIn), options.timeout);
  if (options.json) {
    await out(json({ jid, removed: true }));
    return 0;
  }
  await out(`removed ${clean(jid)}; their shares are gone from \`bitween browse\``);
  return 0;
}
