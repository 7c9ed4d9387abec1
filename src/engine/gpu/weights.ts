// Model weights on the GPU, one storage buffer per MLC tensor, uploaded as each shard arrives.
// Matrices keep their stored encoding (u32 codes, f16 pairs packed in u32, or f32); 1-D tensors
// (norm weights, biases) are widened to f32 because the kernels read them as array<f32>.
import type { TensorData } from '../model/types';
import { halvesToFloats } from '../reference/f16';

export interface WeightBuffer {
  buffer: GPUBuffer;
  dtype: TensorData['dtype'];
  shape: number[];
}

export class WeightStore {
  private readonly tensors = new Map<string, WeightBuffer>();
  /** Bytes held on the GPU. */
  bytes = 0;

  constructor(private readonly device: GPUDevice) {}

  upload(t: TensorData): void {
    const widen = t.shape.length === 1 && t.dtype === 'float16';
    const data = widen ? new Uint8Array(halvesToFloats(new Uint16Array(t.bytes.slice().buffer)).buffer) : t.bytes;
    // writeBuffer needs a multiple of 4 bytes (an odd count of f16 scales has 2 bytes left over).
    const size = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
    const buffer = this.device.createBuffer({ label: t.name, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    const padded = data.byteLength === size ? data : copyPadded(data, size);
    this.device.queue.writeBuffer(buffer, 0, padded.buffer, padded.byteOffset, size);
    this.tensors.get(t.name)?.buffer.destroy();
    this.tensors.set(t.name, { buffer, dtype: widen ? 'float32' : t.dtype, shape: t.shape });
    this.bytes += size;
  }

  get(name: string): WeightBuffer {
    const w = this.tensors.get(name);
    if (!w) throw new Error(`weight ${name} was never uploaded`);
    return w;
  }

  destroy(): void {
    for (const w of this.tensors.values()) w.buffer.destroy();
    this.tensors.clear();
    this.bytes = 0;
  }
}

function copyPadded(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(data);
  return out;
}
