// The CLI's human formatting: sizes, durations, tables that fit the terminal, the progress bar, and
// untrusted names that must not reach the terminal as control sequences.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clean, displayWidth, formatDuration, formatPercent, formatRate, formatSize, progressLine, table, truncate } from '../../cli/format.js';

test('sizes and rates in binary units, three significant digits', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(1023), '1023 B');
  assert.equal(formatSize(1536), '1.50 KiB');
  assert.equal(formatSize(200_000), '195 KiB');
  assert.equal(formatSize(3 * 1024 ** 3), '3.00 GiB');
  assert.equal(formatSize(null), '-');
  assert.equal(formatRate(5.1 * 1024 * 1024), '5.10 MiB/s');
  assert.equal(formatRate(null), '-');
});

test('percent never shows 100% before the end; durations are short', () => {
  assert.equal(formatPercent(0.9999), '99.9%');
  assert.equal(formatPercent(1), '100%');
  assert.equal(formatPercent(0.457), '45.7%');
  assert.equal(formatPercent(null), '-');
  assert.equal(formatDuration(45), '45s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(7620), '2h07m');
  assert.equal(formatDuration(3 * 86400 + 4 * 3600), '3d04h');
});

test('control characters and bidi overrides from contacts are neutralised', () => {
  assert.equal(clean('evil\x1b[2J\x1b]0;title\x07name\nnext'), 'evil?[2J?]0;title?name?next');
  assert.equal(clean('abc\u202Egpj.exe'), 'abc?gpj.exe');
  assert.equal(clean('Ferien 2026 – Bilder'), 'Ferien 2026 – Bilder');
});

test('wide characters count two columns; truncation ends in …', () => {
  assert.equal(displayWidth('日本'), 4);
  assert.equal(displayWidth('e\u0301'), 1);
  assert.equal(truncate('holiday pictures', 8), 'holiday…');
  assert.equal(truncate('日本語のファイル', 5), '日本…');
  assert.equal(truncate('short', 10), 'short');
});

test('a table is aligned and its flexible column shrinks to the width', () => {
  const rows = [
    { name: 'a very long name that does not fit at all', size: '1.50 GiB' },
    { name: 'b', size: '12 B' },
  ];
  const text = table(rows, [
    { header: 'NAME', value: (r) => r.name, flex: true, minWidth: 10 },
    { header: 'SIZE', value: (r) => r.size, align: 'right' },
  ], 30);
  const lines = text.split('\n');
  assert.ok(lines.every((l) => displayWidth(l) <= 30), text);
  assert.equal(lines[0], 'NAME                      SIZE');
  assert.equal(lines[1], 'a very long name th…  1.50 GiB');
  assert.equal(lines[2], 'b                         12 B');
  // Unlimited width (a pipe): nothing cut.
  assert.match(table(rows, [{ header: 'NAME', value: (r) => r.name, flex: true }], Infinity), /does not fit at all/);
});

test('the progress line shows percent, sizes, speed, ETA and peers within the width', () => {
  const line = progressLine({ name: 'holiday', done: 512 * 1024 ** 2, total: 1024 ** 3, rate: 8 * 1024 ** 2, peers: 2 }, 100);
  assert.match(line, /^holiday  \[#{15}-{15}\]   50\.0%  512 MiB\/1\.00 GiB  8\.00 MiB\/s  ETA 1m04s  2 peers$/);
  for (const width of [80, 60, 40]) {
    assert.ok(displayWidth(progressLine({ name: 'x'.repeat(100), done: 1, total: 3, rate: 1, peers: 1 }, width)) < width);
  }
  assert.match(progressLine({ name: 'abc', done: 0, total: null, rate: null }, 80), /fetching metadata/);
});
