// Hostile bus payloads, the same for a given seed (issue 12.6/12.7): random JSON, wrong types, deep nesting
// (up to 10,000 levels), 1 MiB strings, binary garbage, huge arrays, escape-heavy text. Shared by
// test/security/fuzz.test.ts and bench/fuzz-memory.ts.
//
// Safe by construction: no string starts with `/` (generate_torrent would hash a real folder), none is a
// valid info-hash (add_hash would start a download) and none holds `@` (add_contact would ask a real JID).
import { MAX_PAYLOAD_BYTES } from '../../lib/bus.js';

export interface FuzzPayload {
  kind: string;
  data: string | Buffer;
  /** Its size in bytes as published. */
  bytes: number;
  /** The code the refusal must carry, for payloads over a limit. */
  expect?: 'E_TOO_LARGE' | 'E_TOO_DEEP';
}

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MIB = 1024 * 1024;

function safe(s: string): string {
  let out = s.replaceAll('@', '#');
  if (out.trimStart().startsWith('/')) out = `x${out}`;
  if (/^\s*[0-9a-fA-F]{40}\s*$/.test(out)) out = `${out}z`;
  return out;
}

export class Fuzzer {
  private readonly rand: () => number;
  private n = 0;

  constructor(readonly seed: number) {
    this.rand = prng(seed);
  }

  private int(max: number): number {
    return Math.floor(this.rand() * max);
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  private text(maxLength: number): string {
    const length = this.int(maxLength + 1);
    const alphabets = [
      'abcdefghijklmnopqrstuvwxyz0123456789',
      'abc def/..\\"\'{}[],:-_ \t\n',
      '\u0000\u0001\u001f\u007f"\\',
      'äöü€漢字🙂\u2028\u2029\ufeff',
    ];
    const alphabet = [...this.pick(alphabets)];
    let s = '';
    for (let i = 0; i < length; i++) s += this.pick(alphabet);
    return safe(s);
  }

  private value(depth: number): unknown {
    const r = this.int(depth > 3 ? 6 : 9);
    switch (r) {
      case 0: return null;
      case 1: return this.rand() < 0.5;
      case 2: return this.pick([0, -1, 1, 65535, 65536, 1e308, -0.5, Number.MAX_SAFE_INTEGER, 6881]);
      case 3: return this.rand() * 1e6 - 5e5;
      case 4:
      case 5: return this.text(40);
      case 6:
      case 7: return Array.from({ length: this.int(6) }, () => this.value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(5); i > 0; i--) o[this.pick(['args', 'kwargs', 'delete_files', 'upload', 'x', this.text(8)])] = this.value(depth + 1);
        return o;
      }
    }
  }

  private randomJson(): string {
    const v = this.value(0);
    switch (this.int(4)) {
      case 0: return JSON.stringify([v]);
      case 1: return JSON.stringify({ args: Array.isArray(v) ? v : [v], kwargs: { x: this.value(2) } });
      case 2: return JSON.stringify(Array.from({ length: this.int(4) }, () => this.value(1)));
      default: return JSON.stringify(v) ?? 'null';
    }
  }

  private static readonly WRONG = [
    '', ' ', '\n', 'null', 'true', '42', '"quoted"', '{}', '[]', '[null]', '[true]', '[1e308]', '[-1]', '[[]]', '[{}]',
    '{"args": "x"}', '{"kwargs": [1]}', '{"args": [], "kwargs": {"delete_files": "yes"}}', '{"foo": 1}', '{"args": [',
    '[1,', '{"args": [1]', '["a", "b", "c", "d", "e"]', '{"args": {"0": "a"}}', '[NaN]', '[Infinity]', '{"__proto__": {"x": 1}}',
    '{"args": [], "kwargs": {"__proto__": {"polluted": true}}}', '["relative/path"]', '["\\u0000"]', '["\\ud800"]',
  ];

  /** The next payload; `tag` makes the ones over a limit recognisable in their report's head. */
  next(): FuzzPayload {
    const tag = `fuzz-${this.seed}-${this.n++}`;
    const r = this.int(100);
    let kind: string;
    let data: string | Buffer;
    let expect: FuzzPayload['expect'];
    if (r < 32) {
      kind = 'random json';
      data = this.randomJson();
    } else if (r < 47) {
      kind = 'wrong type';
      data = this.pick(Fuzzer.WRONG);
    } else if (r < 55) {
      kind = 'deep';
      const levels = this.pick([33, 100, 1000, 10_000]);
      const open = this.rand() < 0.5 ? '['.repeat(levels) : '{"a":'.repeat(levels);
      const close = open.startsWith('[') ? ']'.repeat(levels) : '}'.repeat(levels);
      data = `[{"tag":"${tag}","d":${open}1${close}}]`;
      expect = Buffer.byteLength(data) > MAX_PAYLOAD_BYTES ? 'E_TOO_LARGE' : 'E_TOO_DEEP';
    } else if (r < 60) {
      kind = '1 MiB string';
      data = this.rand() < 0.5 ? `["${tag}${'A'.repeat(MIB)}"]` : `${tag} ${'plain text '.repeat(MIB / 11)}`;
      expect = 'E_TOO_LARGE';
    } else if (r < 75) {
      kind = 'binary';
      const bytes = Buffer.alloc(1 + this.int(4096));
      for (let i = 0; i < bytes.length; i++) bytes[i] = this.int(256);
      if (bytes[0] === 0x2f) bytes[0] = 0x78; // not an absolute path
      for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x40) bytes[i] = 0x23; // no JID
      data = bytes;
    } else if (r < 83) {
      kind = 'huge array';
      const over = this.rand() < 0.4;
      const items = over ? 100_000 : this.pick([1000, 10_000, 30_000]);
      data = this.rand() < 0.5 ? `[${'0,'.repeat(items)}0]` : `[${'{},'.repeat(items / 2)}{}]`;
      if (Buffer.byteLength(data) > MAX_PAYLOAD_BYTES) expect = 'E_TOO_LARGE';
    } else if (r < 90) {
      kind = 'escapes';
      // Each \u0001 is 6 bytes of JSON and 1 character: an error quoting it must still be bounded.
      data = JSON.stringify([`${tag}${'\u0001"\\\u2028'.repeat(this.pick([100, 2000, 5000]))}`]);
      if (Buffer.byteLength(data) > MAX_PAYLOAD_BYTES) expect = 'E_TOO_LARGE';
    } else if (r < 95) {
      kind = 'at the limit';
      const over = this.rand() < 0.5;
      const body = `["${tag}`;
      data = `${body}${'b'.repeat(MAX_PAYLOAD_BYTES - body.length - 2 + (over ? 1 : 0))}"]`;
      if (over) expect = 'E_TOO_LARGE';
    } else {
      kind = 'unicode';
      data = JSON.stringify([this.text(2000), this.text(20)]);
    }
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    return { kind, data, bytes, expect };
  }
}
