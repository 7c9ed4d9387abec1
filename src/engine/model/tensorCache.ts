// tensor-cache.json (ndarray-cache.json before TVM renamed it): the manifest of an MLC model's
// weight shards, as tvmjs.dump_tensor_cache writes it (see docs/MODEL_FORMAT.md).
import { ModelCorruptError, UnsupportedModelError } from '../errors';
import type { DType, TensorData } from './types';

/** How a record's bytes are stored. mlc_llm convert_weight dumps with "f32-to-bf16" and stamps
 *  that on every record: float32 tensors are stored as bf16 (the top 16 bits, rounded), tensors
 *  of any other dtype as they are. "raw" stores every dtype as it is. */
export type TensorFormat = 'raw' | 'f32-to-bf16';

/** One tensor inside a shard. */
export interface TensorRecord {
  name: string;
  shape: number[];
  dtype: DType;
  format: TensorFormat;
  /** Stored bytes (2 per element for float32 under f32-to-bf16). */
  nbytes: number;
  byteOffset: number;
}

/** One params_shard_*.bin. */
export interface ShardRecord {
  dataPath: string;
  format: 'raw-shard';
  nbytes: number;
  records: TensorRecord[];
  /** Hex MD5 of the shard file, written by tvmjs; absent from older manifests. */
  md5sum?: string;
}

export interface TensorCache {
  /** ParamSize (tensor count), ParamBytes, BitsPerParam as mlc_llm writes them; not relied on. */
  metadata: Record<string, unknown>;
  records: ShardRecord[];
}

const ELEMENT_BYTES: Record<DType, number> = { float32: 4, float16: 2, uint32: 4 };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Bytes a record occupies in its shard. */
export function storedBytes(record: Pick<TensorRecord, 'shape' | 'dtype' | 'format'>): number {
  const count = record.shape.reduce((a, b) => a * b, 1);
  return count * (record.format === 'f32-to-bf16' && record.dtype === 'float32' ? 2 : ELEMENT_BYTES[record.dtype]);
}

export function parseTensorCache(json: unknown, file = 'tensor-cache.json'): TensorCache {
  const bad = (what: string) => new ModelCorruptError(`${file}: ${what}.`);
  if (!isObject(json) || !Array.isArray(json.records)) throw bad('expected an object with a "records" list');
  const names = new Set<string>();
  const records = json.records.map((shard: unknown, s): ShardRecord => {
    if (!isObject(shard) || typeof shard.dataPath !== 'string' || !isSize(shard.nbytes) || !Array.isArray(shard.records)) {
      throw bad(`shard record ${s} needs dataPath, nbytes and records`);
    }
    const { dataPath, nbytes } = shard;
    if (shard.format !== 'raw-shard') throw bad(`${dataPath} has format ${JSON.stringify(shard.format)}, expected "raw-shard"`);
    // dataPath is joined to the model's base URL: a plain file name, nothing that climbs out of it.
    if (!/^[\w.-]+$/.test(dataPath) || dataPath.startsWith('.')) throw bad(`shard path ${JSON.stringify(dataPath)} is not a plain file name`);
    const tensors = shard.records.map((rec: unknown): TensorRecord => {
      if (!isObject(rec) || typeof rec.name !== 'string') throw bad(`${dataPath} lists a tensor without a name`);
      const { name } = rec;
      if (names.has(name)) throw bad(`tensor ${name} is listed twice`);
      names.add(name);
      if (!Array.isArray(rec.shape) || !rec.shape.every(isSize)) throw bad(`tensor ${name} has shape ${JSON.stringify(rec.shape)}`);
      if (typeof rec.dtype !== 'string') throw bad(`tensor ${name} has no dtype`);
      if (!(rec.dtype in ELEMENT_BYTES)) {
        throw new UnsupportedModelError(`${file}: tensor ${name} is ${rec.dtype}; kvchat reads ${Object.keys(ELEMENT_BYTES).join(', ')} tensors.`);
      }
      if (rec.format !== 'raw' && rec.format !== 'f32-to-bf16') throw bad(`tensor ${name} has format ${JSON.stringify(rec.format)}`);
      if (!isSize(rec.nbytes) || !isSize(rec.byteOffset)) throw bad(`tensor ${name} needs integer nbytes and byteOffset`);
      const record: TensorRecord = {
        name, shape: rec.shape as number[], dtype: rec.dtype as DType, format: rec.format, nbytes: rec.nbytes, byteOffset: rec.byteOffset,
      };
      if (record.nbytes !== storedBytes(record)) {
        throw bad(`tensor ${name} (${record.dtype} [${record.shape.join(', ')}], ${record.format}) should take ${storedBytes(record)} bytes, the manifest says ${record.nbytes}`);
      }
      if (record.byteOffset + record.nbytes > nbytes) throw bad(`tensor ${name} ends at byte ${record.byteOffset + record.nbytes}, past the end of ${dataPath} (${nbytes} bytes)`);
      return record;
    });
    const md5sum = typeof shard.md5sum === 'string' ? { md5sum: shard.md5sum } : {};
    return { dataPath, format: 'raw-shard', nbytes, records: tensors, ...md5sum };
  });
  return { metadata: isObject(json.metadata) ? json.metadata : {}, records };
}

/** The tensors of one downloaded shard, each in its own buffer (so the shard can be dropped), with
 *  float32 records widened back from bf16 when the shard stores them that way. */
export function tensorsOfShard(shardBytes: Uint8Array, shard: ShardRecord): TensorData[] {
  if (shardBytes.byteLength !== shard.nbytes) {
    throw new ModelCorruptError(`${shard.dataPath} is ${shardBytes.byteLength} bytes; the manifest says ${shard.nbytes}.`);
  }
  return shard.records.map((rec) => {
    const stored = shardBytes.subarray(rec.byteOffset, rec.byteOffset + rec.nbytes);
    const bytes = rec.format === 'f32-to-bf16' && rec.dtype === 'float32' ? widenBf16(stored) : stored.slice();
    return { name: rec.name, dtype: rec.dtype, shape: [...rec.shape], bytes };
  });
}

/** bf16 -> f32 is exact: the bf16 bits become the top half of the f32. */
function widenBf16(stored: Uint8Array): Uint8Array {
  const count = stored.byteLength / 2;
  const view = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true) << 16;
  return new Uint8Array(out.buffer);
}
