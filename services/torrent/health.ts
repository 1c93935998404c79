// What bitween-torrent says of itself in its heartbeat (`bitween status`, the dashboard), from its own facts:
// degraded while the store does not answer (state changes wait in memory) or while torrents are in error,
// missing or changed (they seed nothing until `bitween recheck`), with why and what to do.
import { degraded, healthy, type Health } from '../../lib/status.js';

export interface TorrentHealthFacts {
  port: number;
  torrents: number;
  /** Torrents per state (metadata, downloading, seeding, error, missing, changed). */
  states: Record<string, number>;
  store: { reachable: boolean; pendingWrites: number };
}

/** States that need the user: the service cannot get out of them by itself. */
const FAILED = ['error', 'missing', 'changed'] as const;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function torrentHealth(f: TorrentHealthFacts): Health {
  const held = Object.entries(f.states).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`);
  const listening = `listening on port ${f.port}, ${plural(f.torrents, 'torrent')}${held.length > 0 ? ` (${held.join(', ')})` : ''}`;
  const summary: string[] = [];
  const reasons: string[] = [];
  if (!f.store.reachable) {
    summary.push('store unreachable');
    reasons.push(`the store (PostgreSQL) does not answer: ${plural(f.store.pendingWrites, 'change')} ${f.store.pendingWrites === 1 ? 'waits' : 'wait'} in memory until it is back`);
  }
  const failed = FAILED.filter((s) => (f.states[s] ?? 0) > 0);
  if (failed.length > 0) {
    const n = failed.reduce((sum, s) => sum + f.states[s]!, 0);
    summary.push(`${plural(n, 'torrent')} failed`);
    reasons.push(`${failed.map((s) => `${s} ${f.states[s]}`).join(', ')} (\`bitween ls\` says why): \`bitween recheck <hash>\` once fixed`);
  }
  return reasons.length === 0 ? healthy(listening) : degraded(summary.join(', '), reasons.join('; '));
}
