// Names from a contact's torrent metadata, checked before anything touches disk (issue 11 part 4). The rule is
// REFUSE: a torrent whose name or any file path component is empty, `.`, `..`, holds `/` or `\` (so no absolute
// path either), NUL or another control character (U+0000–U+001F, U+007F), or is over 255 bytes in UTF-8, is
// refused whole (E_UNSAFE_NAME) and nothing of it is written; it is listed under its made-safe displayName.
//
// The check reads the RAW info dictionary (bencode byte strings), never webtorrent's `files[].path`:
// parse-torrent builds those with path.join, which folds `..` and `/` away, so the hostile form is gone there
// while the name (`.` → the save path itself) still reaches the chunk store's delete.
import { isAbsolute, resolve, sep } from 'node:path';
import { BitweenError } from '../../lib/errors.js';

/** A torrent whose metadata names a path bitween will not write (or delete): nothing of it touches disk. */
export class UnsafeNameError extends BitweenError {
  override readonly code = 'E_UNSAFE_NAME';
}

/** The most bytes one name may take: ext4, xfs, btrfs and APFS refuse longer ones. */
export const MAX_NAME_BYTES = 255;

/** A decoded bencode value: byte strings are Uint8Array (bencode 4), integers numbers. */
type Bencoded = Uint8Array | number | Bencoded[] | { [key: string]: Bencoded };

export interface CheckedNames {
  /** The torrent's name: its folder (multi-file) or its one file, inside the save path. */
  name: string;
  /** A single-file torrent is the file <save_path>/<name>; its one entry has path []. */
  singleFile: boolean;
  /** Each file's path components inside <save_path>/<name>, in metadata order. */
  files: { path: string[]; length: number }[];
}

// As parse-torrent's arr2text: WHATWG UTF-8, invalid bytes become U+FFFD, a leading BOM is dropped. The
// check must see exactly the string webtorrent will use.
const utf8 = new TextDecoder();

// C0 controls (NUL included) and DEL.
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_ALL = /[\u0000-\u001f\u007f]/g;

/** Why `component` may not be a file or folder name, or null when it may. */
function unsafeReason(component: string): string | null {
  if (component === '') return 'is empty';
  if (component === '.' || component === '..') return 'is a reference to a folder, not a name';
  if (isAbsolute(component)) return 'is an absolute path';
  if (component.includes('/') || component.includes('\\')) return 'holds a path separator';
  if (CONTROL.test(component)) return 'holds a control character';
  if (Buffer.byteLength(component, 'utf8') > MAX_NAME_BYTES) return `is over ${MAX_NAME_BYTES} bytes`;
  return null;
}

/** A name quoted for a one-line message: cut to 60 characters, anything unprintable as \u{…}. */
export function quoteName(name: string): string {
  const chars = Array.from(name);
  const cut = chars.length > 60 ? chars.slice(0, 60).join('') + '…' : name;
  // Controls, C1, line/paragraph separators and bidi overrides would break or disguise the line.
  const escaped = cut.replace(/[\\"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) =>
    c === '\\' || c === '"' ? `\\${c}` : `\\u{${c.codePointAt(0)!.toString(16)}}`,
  );
  return `"${escaped}"`;
}

function refuse(where: string, component: string, reason: string): never {
  throw new UnsafeNameError(
    `unsafe torrent metadata: ${where} ${quoteName(component)} ${reason}; refused, nothing written ` +
      `(ask the contact to share it under a plain name, then \`bitween rm\` this one)`,
  );
}

function malformed(what: string): never {
  throw new UnsafeNameError(`malformed torrent metadata: ${what}; refused, nothing written (\`bitween rm\` it)`);
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function isDict(v: unknown): v is Record<string, Bencoded> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Decodes and checks one name; `where` says which one for the message. */
function checkedComponent(raw: unknown, where: string): string {
  if (!isBytes(raw)) malformed(`${where} is not a string`);
  const text = utf8.decode(raw);
  const reason = unsafeReason(text);
  if (reason) refuse(where, text, reason);
  return text;
}

/**
 * Decodes a path list (`path` or `path.utf-8`) and checks each component. A torrent may carry both keys;
 * both are checked, and the one parse-torrent uses (`path.utf-8` first) is returned.
 */
function checkedPath(holder: Record<string, Bencoded>, where: string): string[] | undefined {
  let used: string[] | undefined;
  for (const key of ['path', 'path.utf-8']) {
    const list = holder[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) malformed(`${where} ${key} is not a list`);
    if (list.length === 0) malformed(`${where} ${key} is empty`);
    const parts = list.map((c, i) => checkedComponent(c, `${where} ${key} component ${i + 1}`));
    if (key === 'path.utf-8' || used === undefined) used = parts;
  }
  return used;
}

function checkedLength(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) malformed(`${where} has no valid length`);
  return v;
}

/**
 * Checks every name and path component of a raw info dictionary (as bencode.decode returns it) against the
 * unsafe-names rule; returns the UTF-8 names webtorrent will use, or throws UnsafeNameError naming the first
 * bad component. `name.utf-8` and `path.utf-8` are used before `name` and `path`, as parse-torrent does;
 * when both are present both must be safe.
 */
export function checkTorrentNames(info: unknown): CheckedNames {
  if (!isDict(info)) malformed('the info dictionary is missing');
  let name: string | undefined;
  for (const key of ['name', 'name.utf-8']) {
    if (info[key] === undefined) continue;
    const checked = checkedComponent(info[key], `the torrent's ${key}`);
    if (key === 'name.utf-8' || name === undefined) name = checked;
  }
  if (name === undefined) malformed('the torrent has no name');

  if (info.files === undefined) {
    // parse-torrent would put a single file's `path`, if one were there, under <name>/ instead of at <name>.
    if (info.path !== undefined || info['path.utf-8'] !== undefined) {
      malformed('a single-file torrent carries a path');
    }
    return { name, singleFile: true, files: [{ path: [], length: checkedLength(info.length, 'the file') }] };
  }
  if (!Array.isArray(info.files) || info.files.length === 0) malformed('the file list is empty or not a list');
  const files = info.files.map((file, i) => {
    const where = `file ${i + 1}`;
    if (!isDict(file)) malformed(`${where} is not a dictionary`);
    const path = checkedPath(file, where);
    if (!path) malformed(`${where} has no path`);
    return { path, length: checkedLength(file.length, where) };
  });
  return { name, singleFile: false, files };
}

/**
 * The absolute path of each file of a torrent saved under savePath, checked to lie strictly inside
 * <savePath>/<name> (multi-file) or to be exactly <savePath>/<name> (single file); throws UnsafeNameError
 * otherwise. The component check above already implies it: this holds the last line on its own.
 */
export function torrentFilePaths(savePath: string, info: unknown): { root: string; files: string[] } {
  const checked = checkTorrentNames(info);
  const base = resolve(savePath);
  const root = resolve(base, checked.name);
  if (!root.startsWith(base + sep)) refuse("the torrent's name", checked.name, 'leads outside the save path');
  const files = checked.files.map((f, i) => {
    const p = resolve(root, ...f.path);
    const inside = checked.singleFile ? p === root : p.startsWith(root + sep);
    if (!inside) refuse(`file ${i + 1}`, f.path.join('/'), "leads outside the torrent's own folder");
    return p;
  });
  return { root, files };
}

/**
 * A name made safe to store and show (for a refused torrent; a safe name comes back unchanged): decoded as
 * webtorrent would, control characters and separators replaced with `_`, cut to 255 bytes; empty, `.` and
 * `..` become `_`.
 */
export function displayName(raw: Uint8Array | string | null | undefined): string {
  let text = raw == null ? '' : typeof raw === 'string' ? raw : utf8.decode(raw);
  text = text.replace(CONTROL_ALL, '_').replace(/[/\\]/g, '_');
  if (Buffer.byteLength(text, 'utf8') > MAX_NAME_BYTES) {
    let bytes = 0;
    let cut = '';
    for (const ch of text) {
      bytes += Buffer.byteLength(ch, 'utf8');
      if (bytes > MAX_NAME_BYTES) break;
      cut += ch;
    }
    text = cut;
  }
  return text === '' || text === '.' || text === '..' ? '_' : text;
}

/** The display name of a raw info dictionary (`name.utf-8` before `name`), whatever it holds. */
export function displayNameOf(info: unknown): string {
  if (!isDict(info)) return '_';
  const raw = info['name.utf-8'] ?? info.name;
  return displayName(isBytes(raw) ? raw : null);
}
