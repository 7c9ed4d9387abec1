// Timestamp queries around compute passes (the device needs the 'timestamp-query' feature).

export class Timestamps {
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private readonly readback: GPUBuffer;

  constructor(
    private readonly device: GPUDevice,
    readonly count: number,
  ) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count });
    this.resolved = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.readback = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** A compute pass whose begin and end write timestamps 2i and 2i + 1. */
  pass(encoder: GPUCommandEncoder, i: number): GPUComputePassEncoder {
    return encoder.beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
  }

  /** Submits `encoder` and returns the pairs' durations in µs. */
  async submit(encoder: GPUCommandEncoder, pairs: number): Promise<number[]> {
    encoder.resolveQuerySet(this.querySet, 0, 2 * pairs, this.resolved, 0);
    encoder.copyBufferToBuffer(this.resolved, 0, this.readback, 0, 2 * pairs * 8);
    this.device.queue.submit([encoder.finish()]);
    await this.readback.mapAsync(GPUMapMode.READ);
    const ns = new BigUint64Array(this.readback.getMappedRange().slice(0, 2 * pairs * 8));
    this.readback.unmap();
    return Array.from({ length: pairs }, (_, i) => Number(ns[2 * i + 1] - ns[2 * i]) / 1000);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolved.destroy();
    this.readback.destroy();
  }
}
