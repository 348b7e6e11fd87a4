/**
 * Hostile data folders (issue 15.5, 15.6): a decompression bomb is refused from its header
 * before any pixel is decoded; link loops are named errors, not a stack overflow or INTERNAL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { CompilerError, decodeImage, loadDataset } from '../../src/index.js';
import { tempDir } from '../helpers.js';

const isCode = (code: string) => (e: unknown) => e instanceof CompilerError && e.code === code;

/** A PNG whose header says w×h while the file stays tiny (a real bomb is one IDAT of zeros). */
function bombPng(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type), data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  // 1 MB of zero rows deflates to ~1 KB; the header alone decides.
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1 << 20))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function bombJpeg(w: number, h: number): Buffer {
  // SOI, SOF0 (length 11: precision 8, height, width, 1 component), EOI.
  const sof = Buffer.from([0xff, 0xc0, 0x00, 0x0b, 0x08, h >> 8, h & 0xff, w >> 8, w & 0xff, 0x01, 0x01, 0x11, 0x00]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), sof, Buffer.from([0xff, 0xd9])]);
}

test('a PNG or JPEG whose header promises gigabytes is refused before decoding: DATA_TOO_LARGE', () => {
  const d = tempDir();
  writeFileSync(join(d, 'bomb.png'), bombPng(40000, 40000));
  assert.throws(() => decodeImage(join(d, 'bomb.png')), isCode('DATA_TOO_LARGE'));
  writeFileSync(join(d, 'bomb.jpg'), bombJpeg(60000, 60000));
  assert.throws(() => decodeImage(join(d, 'bomb.jpg')), isCode('DATA_TOO_LARGE'));
  mkdirSync(join(d, 'set', 'a'), { recursive: true });
  writeFileSync(join(d, 'set', 'a', 'x.png'), bombPng(40000, 40000));
  assert.throws(() => loadDataset(`folder:${join(d, 'set')}`), isCode('DATA_TOO_LARGE'));
});

test('a link back up the data folder, and a link to itself: DATA_LINK_LOOP', () => {
  const d = tempDir();
  mkdirSync(join(d, 'up', 'a', 'deeper'), { recursive: true });
  symlinkSync(join(d, 'up', 'a'), join(d, 'up', 'a', 'deeper', 'back'));
  assert.throws(() => loadDataset(`folder:${join(d, 'up')}`), isCode('DATA_LINK_LOOP'));
  mkdirSync(join(d, 'self', 'a'), { recursive: true });
  symlinkSync('loop', join(d, 'self', 'a', 'loop'));
  assert.throws(() => loadDataset(`folder:${join(d, 'self')}`), isCode('DATA_LINK_LOOP'));
});
