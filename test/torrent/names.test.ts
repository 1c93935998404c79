// The unsafe-names rule on raw info dictionaries as a leecher receives them (byte strings as Uint8Array):
// every bad form refused with E_UNSAFE_NAME and a one-line message, plain and Unicode names accepted,
// displayName makes any name safe to store and show, torrentFilePaths stays inside the torrent's folder.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  checkTorrentNames,
  displayName,
  displayNameOf,
  torrentFilePaths,
  UnsafeNameError,
} from '../../services/torrent/names.js';
import { rawTorrent, type Raw, type RawTorrentSpec } from '../fixtures/hostile-seeder.js';

const single = (name: string | Uint8Array, extra?: Record<string, Raw>): RawTorrentSpec => ({ name, length: 10, extra });
const multi = (...paths: Raw[][]): RawTorrentSpec => ({ name: 'pack', files: paths.map((path) => ({ path, length: 10 })) });

function refusal(spec: RawTorrentSpec): UnsafeNameError {
  const { info } = rawTorrent(spec);
  try {
    checkTorrentNames(info);
  } catch (err) {
    assert.ok(err instanceof UnsafeNameError, `an UnsafeNameError, got ${String(err)}`);
    assert.equal(err.code, 'E_UNSAFE_NAME');
    assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f]/, 'the message is one printable line');
    assert.ok(err.message.length < 400, `the message is short: ${err.message.length}`);
    // And the path helper refuses the same torrent.
    assert.throws(() => torrentFilePaths('/srv/downloads', info), UnsafeNameError);
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(spec)}`);
}

const bad: [string, RawTorrentSpec, RegExp][] = [
  ['name .', single('.'), /the torrent's name "\." is a reference to a folder/],
  ['name ..', single('..'), /the torrent's name "\.\." is a reference to a folder/],
  ['empty name', single(''), /the torrent's name "" is empty/],
  ['absolute name', single('/etc'), /"\/etc" is an absolute path/],
  ['name with /', single('a/b'), /"a\/b" holds a path separator/],
  ['name with \\', single('a\\b'), /"a\\\\b" holds a path separator/],
  ['name with NUL', single('x\u0000y'), /"x\\u\{0\}y" holds a control character/],
  ['name with ESC', single('x\u001b[31my'), /"x\\u\{1b\}\[31my" holds a control character/],
  ['name with newline', single('two\nlines'), /holds a control character/],
  ['name with DEL', single('x\u007f'), /holds a control character/],
  ['300-byte name', single('a'.repeat(300)), /is over 255 bytes/],
  ['256-byte Unicode name', single('é'.repeat(128)), /is over 255 bytes/],
  ['.. made of a BOM and dots', single(Buffer.from([0xef, 0xbb, 0xbf, 0x2e, 0x2e])), /is a reference to a folder/],
  ['file path ../../evil', multi(['..', '..', 'evil']), /file 1 path component 1 "\.\." is a reference/],
  ['file path with .', multi(['ok'], ['sub', '.', 'f']), /file 2 path component 2 "\."/],
  ['file path with empty component', multi(['', 'f']), /file 1 path component 1 "" is empty/],
  ['absolute file path component', multi(['/etc', 'passwd']), /is an absolute path/],
  ['file path component with /', multi(['a/b']), /holds a path separator/],
  ['file path component with NUL', multi(['a\u0000']), /holds a control character/],
  ['300-byte file path component', multi(['d', 'b'.repeat(300)]), /is over 255 bytes/],
  ['empty file path', multi([]), /file 1 path is empty/],
  ['name.utf-8 ..', single('fine', { 'name.utf-8': '..' }), /the torrent's name\.utf-8 "\.\."/],
  ['name .. beside a good name.utf-8', single('..', { 'name.utf-8': 'fine' }), /the torrent's name "\.\."/],
  [
    'path.utf-8 with ..',
    { name: 'pack', files: [{ path: ['fine'], 'path.utf-8': ['..', 'x'], length: 10 }] },
    /file 1 path\.utf-8 component 1 "\.\."/,
  ],
  ['a single file with a path', single('film.mkv', { path: ['..', 'x'] }), /a single-file torrent carries a path/],
  ['a path that is not a list', { name: 'pack', files: [{ path: 'a', length: 1 }] }, /file 1 path is not a list/],
  ['a name that is a number', { name: 'x', length: 1, extra: { name: 7 } }, /the torrent's name is not a string/],
];

for (const [what, spec, message] of bad) {
  test(`refused: ${what}`, () => {
    assert.match(refusal(spec).message, message);
  });
}

test('refused: no info dictionary, no name, no files', () => {
  assert.throws(() => checkTorrentNames(undefined), UnsafeNameError);
  assert.throws(() => checkTorrentNames({ length: 1 }), /the torrent has no name/);
  assert.throws(() => checkTorrentNames({ name: Buffer.from('x'), files: [] }), /the file list is empty/);
  assert.throws(() => checkTorrentNames({ name: Buffer.from('x'), length: -1 }), /no valid length/);
});

test('a long bad name is cut in the message', () => {
  const err = refusal(single('z'.repeat(5000)));
  assert.ok(err.message.includes(`"${'z'.repeat(60)}…"`), err.message);
});

test('a bidi override in a refused name is escaped in the message', () => {
  const err = refusal(single('evil\u202e/gpj.exe'));
  assert.match(err.message, /"evil\\u\{202e\}\/gpj\.exe"/);
});

test('accepted: plain and Unicode names, dots inside names, exactly 255 bytes', () => {
  const cases: [RawTorrentSpec, { name: string; files: string[][] }][] = [
    [single('holiday-2026.mkv'), { name: 'holiday-2026.mkv', files: [[]] }],
    [single('Ünïcödé 日本語 🎞.mp4'), { name: 'Ünïcödé 日本語 🎞.mp4', files: [[]] }],
    [single('...'), { name: '...', files: [[]] }],
    [single('.hidden'), { name: '.hidden', files: [[]] }],
    [single('a'.repeat(255)), { name: 'a'.repeat(255), files: [[]] }],
    [single('é'.repeat(127) + 'a'), { name: 'é'.repeat(127) + 'a', files: [[]] }],
    [multi(['cover.jpg'], ['disc 1', 'track..01.flac'], ['Ordner', 'día', 'ü.txt']), {
      name: 'pack',
      files: [['cover.jpg'], ['disc 1', 'track..01.flac'], ['Ordner', 'día', 'ü.txt']],
    }],
  ];
  for (const [spec, want] of cases) {
    const got = checkTorrentNames(rawTorrent(spec).info);
    assert.equal(got.name, want.name);
    assert.deepEqual(got.files.map((f) => f.path), want.files);
    assert.ok(got.files.every((f) => f.length === 10));
  }
});

test('name.utf-8 and path.utf-8 are used before name and path, as parse-torrent does', () => {
  const got = checkTorrentNames(
    rawTorrent({ name: 'raw', extra: { 'name.utf-8': 'Straße' }, files: [{ path: ['a'], 'path.utf-8': ['ä'], length: 3 }] }).info,
  );
  assert.equal(got.name, 'Straße');
  assert.deepEqual(got.files[0]!.path, ['ä']);
});

test('torrentFilePaths: a single file is <save>/<name>, a folder\'s files lie inside <save>/<name>', () => {
  assert.deepEqual(torrentFilePaths('/srv/downloads', rawTorrent(single('film.mkv')).info), {
    root: '/srv/downloads/film.mkv',
    files: ['/srv/downloads/film.mkv'],
  });
  assert.deepEqual(torrentFilePaths('/srv/downloads/', rawTorrent(multi(['a']), ).info), {
    root: '/srv/downloads/pack',
    files: [join('/srv/downloads/pack', 'a')],
  });
  const nested = torrentFilePaths('/srv/downloads', rawTorrent(multi(['x', 'y', 'z.bin'], ['w'])).info);
  assert.deepEqual(nested.files, ['/srv/downloads/pack/x/y/z.bin', '/srv/downloads/pack/w']);
});

test('displayName: a safe name is unchanged; anything else becomes safe to store and show', () => {
  assert.equal(displayName('holiday-2026.mkv'), 'holiday-2026.mkv');
  assert.equal(displayName('Ünïcödé 日本語 🎞'), 'Ünïcödé 日本語 🎞');
  assert.equal(displayName('.'), '_');
  assert.equal(displayName('..'), '_');
  assert.equal(displayName(''), '_');
  assert.equal(displayName(null), '_');
  assert.equal(displayName('/etc'), '_etc');
  assert.equal(displayName('a/b\\c'), 'a_b_c');
  assert.equal(displayName('x\u0000y\u001b[31m\u007f'), 'x_y_[31m_');
  assert.equal(displayName(Buffer.from('plain')), 'plain');
  assert.equal(displayName(Buffer.from([0x66, 0xff, 0x6f])), 'f\ufffdo', 'invalid UTF-8 as webtorrent decodes it');
  assert.equal(displayName('a'.repeat(300)), 'a'.repeat(255));
  // Cut at a character boundary: 127 two-byte characters fit in 255 bytes, the 128th does not.
  assert.equal(displayName('é'.repeat(200)), 'é'.repeat(127));
  assert.equal(displayName('🎞'.repeat(100)), '🎞'.repeat(63));
  for (const [, spec] of bad) {
    const shown = displayNameOf(rawTorrent(spec).info);
    assert.doesNotMatch(shown, /[\u0000-\u001f\u007f/\\]/);
    assert.ok(shown !== '' && shown !== '.' && shown !== '..' && Buffer.byteLength(shown) <= 255, shown);
  }
  assert.equal(displayNameOf(rawTorrent(single('fine', { 'name.utf-8': '..' })).info), '_');
  assert.equal(displayNameOf(undefined), '_');
});
