// The manifest icons: the committed PNGs are what the generator draws, and they have the properties
// installability and maskable launchers need (checked on the decoded pixels).
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { buildIcon, ICONS } from './gen-icons.mjs';

const ICON_FILES = ICONS as Record<string, { size: number; maskable: boolean }>;
const committed = (name: string) => readFileSync(new URL(`../public/icons/${name}`, import.meta.url));

interface DecodedPng {
  width: number;
  height: number;
  /** RGBA, row-major. */
  pixels: Uint8Array;
}

/** Reads the subset of PNG the generator writes: 8-bit RGBA, no interlace, filter 0 on every row. */
function decodePng(png: Buffer): DecodedPng {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([...data.subarray(8)]).toEqual([8, 6, 0, 0, 0]);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rowBytes = width * 4;
  const pixels = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (rowBytes + 1)]).toBe(0);
    pixels.set(raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1)), y * rowBytes);
  }
  return { width, height, pixels };
}

function pixel({ width, pixels }: DecodedPng, x: number, y: number): number[] {
  const at = (y * width + x) * 4;
  return [...pixels.subarray(at, at + 4)];
}

const TEAL = [0x0f, 0x76, 0x6e, 255];

describe('manifest icons', () => {
  it.each(Object.keys(ICON_FILES))('%s is committed exactly as scripts/gen-icons.mjs draws it', (name) => {
    expect(Buffer.compare(committed(name), buildIcon(name))).toBe(0);
  });

  it.each(Object.entries(ICON_FILES))('%s has the size the manifest declares and an opaque teal border inside the corners', (name, { size }) => {
    const icon = decodePng(committed(name));
    expect([icon.width, icon.height]).toEqual([size, size]);
    expect(pixel(icon, size / 2, Math.round(size * 0.05))).toEqual(TEAL);
    expect(pixel(icon, Math.round(size * 0.05), size / 2)).toEqual(TEAL);
  });

  it('the regular icons have transparent rounded corners', () => {
    for (const name of ['icon-192.png', 'icon-512.png']) {
      const icon = decodePng(committed(name));
      expect(pixel(icon, 0, 0)[3]).toBe(0);
      expect(pixel(icon, icon.width - 1, icon.height - 1)[3]).toBe(0);
    }
  });

  it('the maskable icon is opaque edge to edge and draws nothing but background outside the safe zone', () => {
    const icon = decodePng(committed('icon-maskable-512.png'));
    const safeRadius = 0.4 * icon.width;
    let contentPixels = 0;
    let translucentPixels = 0;
    let contentOutsideSafeZone = 0;
    for (let y = 0; y < icon.height; y++) {
      for (let x = 0; x < icon.width; x++) {
        const rgba = pixel(icon, x, y);
        if (rgba[3] !== 255) translucentPixels++;
        if (rgba.join() === TEAL.join()) continue;
        contentPixels++;
        if (Math.hypot(x + 0.5 - icon.width / 2, y + 0.5 - icon.height / 2) >= safeRadius) contentOutsideSafeZone++;
      }
    }
    expect(translucentPixels).toBe(0);
    expect(contentOutsideSafeZone).toBe(0);
    expect(contentPixels).toBeGreaterThan(icon.width * icon.height * 0.1);
  });
});
