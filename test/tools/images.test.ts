// display(): images from the sandbox reach the agent as MCP image content, bounded.
import assert from 'node:assert/strict';
import { deflateSync, inflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { imageBytesMax, imagesPerRunMax } from '../../src/service/images.ts';
import { stdioClient } from '../support/agent-client.ts';

type Block = { type: string; text?: string; data?: string; mimeType?: string };

/** A real PNG: width × height, 8-bit RGB, every pixel `rgb`. */
function png(width: number, height: number, rgb: [number, number, number]): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
  const crc = (bytes: Buffer) => { let c = 0xffffffff; for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; header[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(pixels)), chunk('IEND', Buffer.alloc(0))]);
}

/** Decodes what png() makes: width, height and the first pixel. */
function decodePng(bytes: Buffer): { width: number; height: number; firstPixel: number[] } {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  let offset = 8;
  let width = 0; let height = 0; const idat: Buffer[] = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('ascii', offset + 4, offset + 8);
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') { width = data.readUInt32BE(0); height = data.readUInt32BE(4); }
    if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const pixels = inflateSync(Buffer.concat(idat));
  return { width, height, firstPixel: [...pixels.subarray(1, 4)] };
}

const chartHelper = `
function barChart(data, { width = 320, height = 160 } = {}) {
  const entries = Object.entries(data);
  const max = Math.max(...entries.map(([, value]) => value));
  const band = width / entries.length;
  const bars = entries.map(([label, value], index) => {
    const h = (value / max) * (height - 20);
    return '<rect x="' + (index * band + 4) + '" y="' + (height - 20 - h) + '" width="' + (band - 8) + '" height="' + h + '" fill="steelblue"/>' +
      '<text x="' + (index * band + band / 2) + '" y="' + (height - 5) + '" font-size="10" text-anchor="middle">' + label + '</text>';
  }).join('');
  return '<svg xmlns="http://www.w3.org/2000/svg" width="' + width + '" height="' + height + '">' + bars + '</svg>';
}`;

describe('display(): images in replies', () => {
  let client: Client;
  before(async () => { client = await stdioClient({ stateful: false, name: 'images' }); });
  after(async () => { await client.close(); });

  async function run(code: string): Promise<{ blocks: Block[]; value: Record<string, unknown> }> {
    const result = await client.callTool({ name: 'run_js', arguments: { code, wait_ms: 20_000 } });
    return { blocks: result.content as Block[], value: result.structuredContent as Record<string, unknown> };
  }

  test('PNG bytes become an image block that decodes to the same picture', async () => {
    const picture = png(3, 2, [255, 128, 0]);
    const { blocks, value } = await run(`display(Uint8Array.from(atob('${picture.toString('base64')}'), (c) => c.charCodeAt(0))); 'shown'`);
    assert.equal(value.result, 'shown');
    assert.equal(blocks.length, 2);
    assert.equal(blocks[0]!.type, 'text');
    assert.equal(blocks[1]!.type, 'image');
    assert.equal(blocks[1]!.mimeType, 'image/png');
    assert.deepEqual(decodePng(Buffer.from(blocks[1]!.data!, 'base64')), { width: 3, height: 2, firstPixel: [255, 128, 0] });
    assert.equal((value.output as { data: string }).data, `[display: image 1, image/png, ${picture.length} bytes]\n`, 'the output has its place, not its bytes');
    assert.equal(JSON.stringify(value).includes(picture.toString('base64')), false, 'the JSON does not carry the image a second time');
    const again = await client.callTool({ name: 'get_execution', arguments: { execution_id: value.execution_id } });
    assert.equal((again.content as Block[])[1]!.data, blocks[1]!.data, 'get_execution carries it too');
  });

  test('a bar chart drawn as SVG by a small helper', async () => {
    const { blocks } = await run(`${chartHelper}\ndisplay(barChart({ q1: 3, q2: 5, q3: 4 }))`);
    assert.equal(blocks[1]!.mimeType, 'image/svg+xml');
    const svg = Buffer.from(blocks[1]!.data!, 'base64').toString('utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<rect /g)!.length, 3);
  });

  test('bounds and mistakes: too large, not an image, too many, a forged line', async () => {
    const large = await run(`const b = new Uint8Array(${imageBytesMax + 1}); b.set([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]); display(b)`);
    assert.equal(large.value.status, 'failed');
    assert.match(String(large.value.error), /display\(\): the image is 1048577 bytes; at most 1048576/);
    const text = await run("display('hello')");
    assert.match(String(text.value.error), /TypeError: display\(\): a string must be SVG markup/);
    const many = await run(`for (let i = 0; i < ${imagesPerRunMax + 2}; i++) display('<svg xmlns="http://www.w3.org/2000/svg"/>'); 1`);
    assert.equal(many.blocks.length, 1 + imagesPerRunMax);
    assert.match((many.value.output as { data: string }).data, /\[display: image not kept, at most 8 per execution\]\n$/);
    const forged = await run("console.log('\\u0000mcp-v8:display:image/png;AAAA'); 1");
    assert.equal(forged.blocks.length, 1);
    assert.equal((forged.value.output as { data: string }).data, '[display: refused, not an image this server accepts]\n');
  });
});
