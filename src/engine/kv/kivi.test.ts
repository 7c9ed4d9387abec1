// KIVI accounting against the buffers the cache really allocates, with a recording fake device
// (Node has no WebGPU; no kernel runs here, only the bookkeeping).
import { beforeAll, describe, expect, it } from 'vitest';
import type { PipelineCache } from '../gpu/shaders';
import type { ModelConfig } from '../model/types';
import { KiviKvCache } from './kivi';
import { KIVI2, type KvSettings } from './settings';

const cfg = { numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 64, prefillChunkSize: 32 } as ModelConfig;

interface FakeBuffer { label: string; size: number; usage: number }

function fakeDevice(): { device: GPUDevice; buffers: FakeBuffer[]; writes: { label: string; offset: number; data: Uint32Array }[] } {
  const buffers: FakeBuffer[] = [];
  const writes: { label: string; offset: number; data: Uint32Array }[] = [];
  const device = {
    createBuffer: (d: GPUBufferDescriptor) => {
      const b = { label: d.label ?? '', size: d.size, usage: d.usage, destroy: () => {} };
      buffers.push(b);
      return b;
    },
    createBindGroup: () => ({}),
    queue: {
      writeBuffer: (b: FakeBuffer, offset: number, data: Uint32Array) => writes.push({ label: b.label, offset, data: Uint32Array.from(data) }),
    },
  };
  return { device: device as unknown as GPUDevice, buffers, writes };
}

const EVICTING: KvSettings = { ...KIVI2, policy: 'zigzag', budgetFraction: 0.2 };

const storageBytes = (buffers: FakeBuffer[]) => buffers.filter((b) => b.usage & GPUBufferUsage.STORAGE).reduce((n, b) => n + b.size, 0);
/** Bytes of the quantized block pools: every layer's keyBlocks and valueBlocks, and compaction's scratch. */
const blockBytes = (buffers: FakeBuffer[]) => buffers.filter((b) => /(keyBlocks|valueBlocks)$/i.test(b.label)).reduce((n, b) => n + b.size, 0);

const pipelines = { get: () => ({ getBindGroupLayout: () => ({}) }) } as unknown as PipelineCache;
const io = { qkv: {}, attnOut: {}, partialAcc: {}, partialMl: {}, partialSlots: 64 } as never;

beforeAll(() => {
  (globalThis as { GPUBufferUsage?: object }).GPUBufferUsage ??= { STORAGE: 128, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64 };
});

describe('KiviKvCache accounting', () => {
  it.each([['plain', KIVI2], ['evicting', EVICTING]] as const)('reports as allocated exactly the bytes of the storage buffers it creates (%s)', (_, settings) => {
    const { device, buffers } = fakeDevice();
    const cache = new KiviKvCache(device, pipelines, cfg, 1000, settings, io);
    expect(cache.bytes().allocated).toBe(storageBytes(buffers));
  });

  it('gives an evicting cache one pool per layer plus one scratch pool and one set of event buffers shared by the layers', () => {
    const plain = fakeDevice();
    new KiviKvCache(plain.device, pipelines, cfg, 1000, KIVI2, io);
    const evicting = fakeDevice();
    const cache = new KiviKvCache(evicting.device, pipelines, cfg, 1000, EVICTING, io);
    // KV * ceil(1000 / G) blocks of (D * G * 2 / 32 + D) key words and (G * D * 2 / 32 + D) value words.
    const poolBytes = 2 * Math.ceil(1000 / 32) * (192 + 192) * 4;
    expect(blockBytes(plain.buffers)).toBe(cfg.numLayers * poolBytes);
    expect(blockBytes(evicting.buffers)).toBe((cfg.numLayers + 1) * poolBytes);
    expect(blockBytes(evicting.buffers)).toBeLessThan(2 * blockBytes(plain.buffers));
    const { allocated, perLayer } = cache.bytes();
    expect(perLayer[0].allocated.codes + perLayer[0].allocated.scales).toBe(poolBytes);
    // Shared once: the scratch pool, and scores, pooled, newIndex, sourceOf and new positions
    // ([KV, capacity] u32 each).
    const eventBytes = 5 * 2 * 1000 * 4;
    expect(allocated - perLayer.reduce((n, l) => n + l.allocated.codes + l.allocated.scales + l.allocated.fullPrecision + l.allocated.metadata, 0)).toBe(poolBytes + eventBytes);
  });

  it('counts blocks, residual and tables as tokens stream in, flushing at R + G', () => {
    const { device, writes } = fakeDevice();
    const cache = new KiviKvCache(device, pipelines, cfg, 1000, KIVI2, io);
    const prefill = (n: number) => {
      for (let done = 0; done < n; done += 32) {
        cache.beginChunk(Math.min(32, n - done), cache.length);
        cache.endChunk();
      }
    };
    prefill(300);
    // Residual kept between R = 128 and R + G - 1 = 159: 300 = 5 blocks of 32 + 140.
    expect(cache.length).toBe(300);
    const D = 64;
    const KV = 2;
    const blocks = 5 * KV;
    const used = cache.bytes().perLayer[0].used;
    expect(used.codes).toBe(blocks * (D * 32 * 2 + 32 * D * 2) / 8);
    expect(used.scales).toBe(blocks * (D + 32 * 2) * 4);
    expect(used.fullPrecision).toBe(KV * 140 * D * 2 * 2);
    expect(used.metadata).toBe((blocks + KV) * 4);
    expect(cache.bytes().fp16Equivalent).toBe(3 * 300 * KV * D * 4);
    // Each of the 5 flushes wrote new block ids into every head's table in every layer, and the
    // per-head counts at the table's tail show the 5 blocks.
    const tableWords = KV * Math.ceil(1000 / 32);
    const tables = writes.filter((w) => w.label.endsWith('blockTable'));
    expect(tables.filter((w) => w.offset < tableWords * 4).length).toBe(3 * KV * 5);
    expect(tables.filter((w) => w.offset === tableWords * 4).at(-1)?.data).toEqual(Uint32Array.of(5, 5));

    cache.beginChunk(1, cache.length);
    cache.endChunk();
    expect(cache.length).toBe(301);
  });

  it('stores a quantized token in at most 0.19x its fp16 bytes at b = 2, G = 32 (residual excluded)', () => {
    const { device } = fakeDevice();
    const cache = new KiviKvCache(device, pipelines, cfg, 1000, KIVI2, io);
    const perLayerBlock = cache.bytes().perLayer[0].allocated;
    const tokensInPool = 2 * Math.ceil(1000 / 32) * 32;
    const ratio = (perLayerBlock.codes + perLayerBlock.scales) / (tokensInPool * 64 * 2 * 2);
    expect(ratio).toBeCloseTo(3 / 16, 10);
    expect(ratio).toBeLessThanOrEqual(0.19);
  });

  it('truncates to whole blocks inside the quantized part and frees their pool blocks', () => {
    const { device } = fakeDevice();
    const cache = new KiviKvCache(device, pipelines, cfg, 1000, KIVI2, io);
    for (let i = 0; i < 10; i++) {
      cache.beginChunk(32, cache.length);
      cache.endChunk();
    }
    expect(cache.length).toBe(320);
    expect(cache.truncate(300)).toBe(300);
    expect(cache.truncate(100)).toBe(96);
    expect(cache.bytes().perLayer[0].used.fullPrecision).toBe(0);
    for (let i = 0; i < 20; i++) {
      cache.beginChunk(32, cache.length);
      cache.endChunk();
    }
    expect(cache.length).toBe(96 + 640);
  });
});
