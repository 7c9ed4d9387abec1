import { describe, expect, it } from 'vitest';
import { ModelCorruptError, UnsupportedModelError } from '../errors';
import { parseTensorCache, tensorsOfShard, type ShardRecord } from './tensorCache';

/** A two-tensor shard as tvmjs writes it under f32-to-bf16: a float32 tensor stored as bf16, then
 *  a uint32 tensor stored as is. */
function shardFixture() {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, 0x3f80, true); // bf16 1.0
  view.setUint16(2, 0xc020, true); // bf16 -2.5
  view.setUint32(4, 0x76543210, true);
  view.setUint32(8, 0xfedcba98, true);
  const manifest = {
    metadata: { ParamSize: 2, ParamBytes: 16, BitsPerParam: 32 },
    records: [{
      dataPath: 'params_shard_0.bin', format: 'raw-shard', nbytes: 12, md5sum: 'ignored',
      records: [
        { name: 'norm.weight', shape: [2], dtype: 'float32', format: 'f32-to-bf16', nbytes: 4, byteOffset: 0 },
        { name: 'proj.q_weight', shape: [1, 2], dtype: 'uint32', format: 'f32-to-bf16', nbytes: 8, byteOffset: 4 },
      ],
    }],
  };
  return { bytes, manifest };
}

type Manifest = ReturnType<typeof shardFixture>['manifest'];

function withEdit(edit: (m: Manifest & Record<string, any>) => void): unknown {
  const { manifest } = shardFixture();
  const copy = structuredClone(manifest) as Manifest & Record<string, any>;
  edit(copy);
  return copy;
}

describe('parseTensorCache', () => {
  it('reads shard and tensor records', () => {
    const cache = parseTensorCache(shardFixture().manifest);
    expect(cache.metadata.ParamSize).toBe(2);
    expect(cache.records[0]).toMatchObject({ dataPath: 'params_shard_0.bin', nbytes: 12, md5sum: 'ignored' });
    expect(cache.records[0].records.map((r) => r.name)).toEqual(['norm.weight', 'proj.q_weight']);
  });

  it('checks nbytes against shape, dtype and storage format', () => {
    expect(() => parseTensorCache(withEdit((m) => { m.records[0].records[0].nbytes = 8; }))).toThrow(
      'tensor-cache.json: tensor norm.weight (float32 [2], f32-to-bf16) should take 4 bytes, the manifest says 8.',
    );
    // The same record stored raw takes 4 bytes per element.
    expect(() => parseTensorCache(withEdit((m) => { m.records[0].records[0].format = 'raw'; }))).toThrow(/should take 8 bytes/);
  });

  it('rejects records past the end of their shard, duplicates and odd paths', () => {
    expect(() => parseTensorCache(withEdit((m) => { m.records[0].records[1].byteOffset = 6; }))).toThrow(/ends at byte 14, past the end of params_shard_0\.bin/);
    expect(() => parseTensorCache(withEdit((m) => { m.records[0].records[1].name = 'norm.weight'; }))).toThrow(/norm\.weight is listed twice/);
    expect(() => parseTensorCache(withEdit((m) => { m.records[0].dataPath = '../secret.bin'; }))).toThrow(/not a plain file name/);
    expect(() => parseTensorCache(withEdit((m) => { m.records[0].format = 'zip'; }))).toThrow(ModelCorruptError);
    expect(() => parseTensorCache({ metadata: {} }, 'ndarray-cache.json')).toThrow('ndarray-cache.json: expected an object with a "records" list.');
  });

  it('reports dtypes kvchat cannot read as unsupported', () => {
    const bf16Model = withEdit((m) => { m.records[0].records[0].dtype = 'bfloat16'; });
    expect(() => parseTensorCache(bf16Model)).toThrow(UnsupportedModelError);
    expect(() => parseTensorCache(bf16Model)).toThrow(/norm\.weight is bfloat16/);
  });
});

describe('tensorsOfShard', () => {
  it('widens bf16-stored float32 tensors and copies the others as they are', () => {
    const { bytes, manifest } = shardFixture();
    const shard: ShardRecord = parseTensorCache(manifest).records[0];
    const [norm, qWeight] = tensorsOfShard(bytes, shard);
    expect(norm).toMatchObject({ name: 'norm.weight', dtype: 'float32', shape: [2] });
    expect(Array.from(new Float32Array(norm.bytes.slice().buffer))).toEqual([1, -2.5]);
    expect(Array.from(new Uint32Array(qWeight.bytes.slice().buffer))).toEqual([0x76543210, 0xfedcba98]);
    // Each tensor owns its bytes: the shard can be reused or dropped.
    bytes.fill(0);
    expect(new Uint32Array(qWeight.bytes.slice().buffer)[0]).toBe(0x76543210);
  });

  it('rejects a shard whose size differs from the manifest', () => {
    const { bytes, manifest } = shardFixture();
    expect(() => tensorsOfShard(bytes.subarray(0, 10), parseTensorCache(manifest).records[0])).toThrow(
      new ModelCorruptError('params_shard_0.bin is 10 bytes; the manifest says 12.'),
    );
  });
});
