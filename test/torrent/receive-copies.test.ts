// Copies of received data in webtorrent's download path, as patched (patches/, applied by `npm ci`'s postinstall
// through patch-package; issue 14.6). Unpatched, every received byte was copied twice in JavaScript besides the
// decryption: bittorrent-protocol joined each socket chunk with the leftover of the one before (nearly always a
// few bytes of the next message) into a fresh zero-filled buffer, and torrent-piece kept each block as a view
// of that buffer until the piece was complete (holding whole received buffers alive that long), then joined the
// blocks into another fresh buffer. Patched (bench/README.md: 18 % less leecher CPU per GiB, median of 14 runs each):
//   - bittorrent-protocol keeps received chunks apart and copies a message out only when it spans two of them;
//   - torrent-piece copies each block into the piece's buffer as it arrives, and that buffer is the piece.
// A real Wire (webtorrent's peer connection) is fed the bytes a seeder sends, cut at awkward places; a real
// Piece is filled as webtorrent fills it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

interface WireLike {
  write(chunk: Uint8Array): boolean;
  on(event: 'piece', fn: (index: number, offset: number, block: Uint8Array) => void): void;
  on(event: 'handshake', fn: () => void): void;
  destroy(): void;
}
// No type declarations ship with bittorrent-protocol; webtorrent's own import is the module under test.
const { default: Wire } = (await import('bittorrent-protocol' as string)) as { default: new () => WireLike };
interface PieceLike {
  reserve(): number;
  set(i: number, data: Uint8Array, source: unknown): boolean;
  flush(): Uint8Array | null;
}
const { default: Piece } = (await import('torrent-piece' as string)) as { default: new (length: number) => PieceLike };

function handshake(): Buffer {
  return Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.alloc(8), randomBytes(20), randomBytes(20)]);
}

/** A `piece` message (id 7): length prefix, id, index, offset, block. */
function pieceMessage(index: number, offset: number, block: Buffer): Buffer {
  const head = Buffer.alloc(13);
  head.writeUInt32BE(9 + block.length, 0);
  head[4] = 7;
  head.writeUInt32BE(index, 5);
  head.writeUInt32BE(offset, 9);
  return Buffer.concat([head, block]);
}

/** Feeds `stream` to a fresh wire in chunks of the given sizes (the rest as one last chunk); collects blocks. */
async function receive(stream: Buffer, sizes: number[]): Promise<{ chunks: Buffer[]; blocks: { index: number; offset: number; block: Uint8Array }[] }> {
  const wire = new Wire();
  const blocks: { index: number; offset: number; block: Uint8Array }[] = [];
  wire.on('piece', (index, offset, block) => blocks.push({ index, offset, block }));
  const chunks: Buffer[] = [];
  let at = 0;
  for (const size of [...sizes, stream.length]) {
    if (at >= stream.length) break;
    // Each chunk in its own memory, as a socket read hands it over.
    const chunk = Buffer.from(stream.subarray(at, Math.min(stream.length, at + size)));
    chunks.push(chunk);
    wire.write(chunk);
    at += chunk.length;
  }
  // streamx runs _write on the next tick(s)
  await new Promise((resolve) => setTimeout(resolve, 20));
  wire.destroy();
  return { chunks, blocks };
}

const BLOCK = 16384;

test('a block that lies whole within one received chunk is handed on as a view of it, not a copy', async () => {
  const block = randomBytes(BLOCK);
  const hs = handshake();
  // Chunk 1: the handshake and 2 bytes of the next message's length; chunk 2: the rest, the whole block in it.
  const stream = Buffer.concat([hs, pieceMessage(3, 0, block)]);
  const { chunks, blocks } = await receive(stream, [hs.length + 2]);
  assert.equal(blocks.length, 1);
  assert.ok(Buffer.from(blocks[0]!.block).equals(block), 'the block differs from what was sent');
  assert.ok(blocks[0]!.block.buffer === chunks[1]!.buffer, 'the block was copied out of the chunk it arrived in');
});

test('messages cut at every kind of place arrive whole and in order', async () => {
  const blocks = Array.from({ length: 12 }, () => randomBytes(BLOCK));
  const hs = handshake();
  const stream = Buffer.concat([hs, ...blocks.map((b, i) => pieceMessage(i >> 2, (i & 3) * BLOCK, b))]);
  // Cuts inside a length prefix, inside a header, inside a block, exactly at message ends, and 1-byte chunks.
  const sizes = [hs.length - 5, 3, 1, 1, 1, 7, BLOCK, BLOCK + 13 + 4, 65536, 1, 2, 3, 40000, BLOCK * 2 + 26, 5];
  const got = await receive(stream, sizes);
  assert.equal(got.blocks.length, blocks.length);
  got.blocks.forEach((b, i) => {
    assert.equal(b.index, i >> 2);
    assert.equal(b.offset, (i & 3) * BLOCK);
    assert.ok(Buffer.from(b.block).equals(blocks[i]!), `block ${i} differs from what was sent`);
  });
});

test('a piece keeps its own copy of each block: the buffer a block arrived in may be reused at once', () => {
  const sizes = [BLOCK, BLOCK, 100];
  const piece = new Piece(2 * BLOCK + 100);
  const reserved = sizes.map(() => piece.reserve());
  assert.deepEqual(reserved, [0, 1, 2]);
  const blocks = sizes.map((n) => randomBytes(n));
  let complete = false;
  for (const i of [2, 0, 1]) {
    // The block as the wire hands it on: a view into a larger received buffer.
    const received = Buffer.concat([randomBytes(7), blocks[i]!, randomBytes(9)]);
    complete = piece.set(i, received.subarray(7, 7 + blocks[i]!.length), 'peer');
    received.fill(0);
  }
  assert.equal(complete, true);
  // (Buffer.equals: assert's diff of two 32 KiB buffers takes minutes to print)
  assert.ok(Buffer.from(piece.flush()!).equals(Buffer.concat(blocks)), 'the piece lost blocks when the buffers they arrived in were reused');
});
