// Draws the app icons of the web app manifest as PNGs, from the same shapes as public/favicon.svg
// (a teal rounded square, a light speech bubble, two teal text lines), with Node built-ins only.
// Deterministic: the committed files in public/icons/ are exactly what this writes.
// Usage: node scripts/gen-icons.mjs [outDir]   (default public/icons)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';

const TEAL = [0x0f, 0x76, 0x6e];
const BUBBLE = [0xf0, 0xfd, 0xfa];
/** Samples per pixel along each axis (antialiasing by supersampling). */
const SUBSAMPLES = 4;
/** The favicon's viewBox is 32 x 32 units; every shape below is in those units. */
const VIEWBOX = 32;
/** A maskable icon's content must stay inside the centred circle of radius 40% of the size
 *  (12.8 units; https://w3c.github.io/manifest/#icon-masks). The bubble reaches 11.7 units from the
 *  centre (its tail's tip); scaled by 0.8 it keeps a margin inside circular masks too. */
const MASKABLE_CONTENT_SCALE = 0.8;

export const ICONS = {
  'icon-192.png': { size: 192, maskable: false },
  'icon-512.png': { size: 512, maskable: false },
  'icon-maskable-512.png': { size: 512, maskable: true },
};

// Signed distances (negative inside), in viewBox units.
function roundedRect(x, y, left, top, right, bottom, radius) {
  const qx = Math.abs(x - (left + right) / 2) - ((right - left) / 2 - radius);
  const qy = Math.abs(y - (top + bottom) / 2) - ((bottom - top) / 2 - radius);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
}

function capsule(x, y, x0, x1, cy, radius) {
  const cx = Math.min(Math.max(x, x0), x1);
  return Math.hypot(x - cx, y - cy) - radius;
}

/** The bubble's tail: the triangle (10, 22) (15, 22) (10, 26), as in the favicon's path. */
function inTail(x, y) {
  return x >= 10 && y >= 22 && 4 * (x - 10) + 5 * (y - 22) <= 20;
}

/** The colour (RGBA) of one point of the icon. */
function shade(x, y, maskable) {
  if (!maskable && roundedRect(x, y, 0, 0, VIEWBOX, VIEWBOX, 7) > 0) return [0, 0, 0, 0];
  const scale = maskable ? MASKABLE_CONTENT_SCALE : 1;
  const cx = VIEWBOX / 2 + (x - VIEWBOX / 2) / scale;
  const cy = VIEWBOX / 2 + (y - VIEWBOX / 2) / scale;
  const inBubble = roundedRect(cx, cy, 6, 9, 26, 22, 2) <= 0 || inTail(cx, cy);
  const inLine = capsule(cx, cy, 11, 21, 13.5, 1) <= 0 || capsule(cx, cy, 11, 17, 17.5, 1) <= 0;
  return [...(inBubble && !inLine ? BUBBLE : TEAL), 255];
}

/** RGBA pixels, row-major, averaged over SUBSAMPLES^2 points per pixel. */
export function drawIcon({ size, maskable }) {
  const pixels = new Uint8Array(size * size * 4);
  const unitsPerPixel = VIEWBOX / size;
  const samples = SUBSAMPLES * SUBSAMPLES;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const sum = [0, 0, 0, 0];
      for (let sy = 0; sy < SUBSAMPLES; sy++) {
        for (let sx = 0; sx < SUBSAMPLES; sx++) {
          const x = (px + (sx + 0.5) / SUBSAMPLES) * unitsPerPixel;
          const y = (py + (sy + 0.5) / SUBSAMPLES) * unitsPerPixel;
          const [r, g, b, a] = shade(x, y, maskable);
          // Premultiplied, so transparent samples do not darken the edge.
          sum[0] += r * a;
          sum[1] += g * a;
          sum[2] += b * a;
          sum[3] += a;
        }
      }
      const at = (py * size + px) * 4;
      const alpha = sum[3];
      for (let c = 0; c < 3; c++) pixels[at + c] = alpha === 0 ? 0 : Math.round(sum[c] / alpha);
      pixels[at + 3] = Math.round(alpha / samples);
    }
  }
  return pixels;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An 8-bit RGBA PNG; every scanline uses filter 0 (none). */
export function encodePng(pixels, size) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // bit depth 8, colour type 6 (RGBA), deflate, no filter, no interlace
  const rowBytes = size * 4;
  const raw = Buffer.alloc((rowBytes + 1) * size);
  for (let y = 0; y < size; y++) raw.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

export function buildIcon(name) {
  const icon = ICONS[name];
  return encodePng(drawIcon(icon), icon.size);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const outDir = resolve(process.argv[2] ?? join(root, 'public', 'icons'));
  mkdirSync(outDir, { recursive: true });
  for (const name of Object.keys(ICONS)) {
    const png = buildIcon(name);
    writeFileSync(join(outDir, name), png);
    console.log(`${join(outDir, name)}: ${png.length} bytes`);
  }
}
