// The forward pass on the GPU: the same steps as reference/forward.ts, recorded as WGSL dispatches.
// Activations are sized for one prefill chunk; the KV cache (kv/) holds `maxSeq` tokens per layer.
// A decode step (forward + sampling) is one command buffer and reads back only the sampled token.
import { ContextFullError, DeviceLostError } from '../errors';
import type { AttentionIo, KvBytes, KvCache } from '../kv/cache';
import { createKvCache } from '../kv/create';
import { DEFAULT_KV_SETTINGS, type KvSettings } from '../kv/settings';
import { GROUP_SIZE, isGroupQuantized, linearTensorNames, modelSpec, ropeInvFreq, type LinearSpec } from '../model/layout';
import type { ModelConfig } from '../model/types';
import { bindKernel, dispatch, PipelineCache, type BoundKernel, type Overrides } from './shaders';
import type { WeightStore } from './weights';

/** Most sequence splits of a decode step's attention. */
const MAX_SPLITS = 64;
const F32 = 4;
/** Most workgroups in one grid dimension. */
const MAX_GRID = 65535;

export type Sampling =
  | { kind: 'greedy'; repetitionPenalty: number }
  | { kind: 'top-p'; temperature: number; topP: number; repetitionPenalty: number; u: number };

/** The RMSNorm in front of a linear layer: `kernel` writes x's normalised rows for `chunk`; the
 *  layer's gemv does the norm itself, reading `stream` and `weight`. */
interface NormInput {
  kernel: BoundKernel;
  stream: GPUBuffer;
  weight: GPUBuffer;
}

/** What follows a linear layer's product (rope after qkv, silu_mul after gate_up): `kernel` (grid
 *  (workgroupsX, T)) after the chunk kernel, while the gemv does it itself with `overrides`, writing
 *  `output` in place of the layer's y and reading `invFreq` when it rotates. */
interface Activation {
  kernel: BoundKernel;
  workgroupsX: number;
  overrides: Overrides;
  output?: GPUBuffer;
  invFreq?: GPUBuffer;
}

interface Fusions {
  norm?: NormInput;
  activation?: Activation;
}

interface LinearKernel {
  spec: LinearSpec;
  bind(x: GPUBuffer, y: GPUBuffer, batch: GPUBuffer, addToOutput: boolean, fused?: Fusions): BoundLinear;
}

/** A linear layer bound to its input and output: `chunk` (matmul_q4 / matmul_dense) runs any T,
 *  `gemv` (matmul_q4_gemv, q4 models only) the T = 1 of decode steps and the lm_head. Around
 *  `chunk` run the layer's `norm` before and `activation` after; its gemv does both itself (up to
 *  two dispatches less). */
interface BoundLinear {
  outDim: number;
  norm: BoundKernel | null;
  chunk: BoundKernel;
  activation: { kernel: BoundKernel; workgroupsX: number } | null;
  gemv: { kernel: BoundKernel; rows: number } | null;
}

/** matmul_q4_gemv's tiling for a weight shape, from a sweep of every tiling on an H200
 *  (bench/gemv-sweep.ts; docs/BENCHMARKS.md): a lane per quantization group of the row where the row
 *  has up to 256 (the largest power of two not above that count), 2 rows per thread below 8192
 *  outputs and 4 from there, so each x read serves several rows; the lm_head-sized widest take
 *  128 rows over 8 lanes each. */
function gemvTiling(outDim: number, inDim: number): { ROWS: number; LANES: number } {
  if (outDim >= 65536) return { ROWS: 128, LANES: 8 };
  const groups = inDim / GROUP_SIZE;
  const LANES = Math.min(256, 2 ** Math.floor(Math.log2(groups)));
  // The kernel writes a row per invocation: at most 256 rows.
  return { ROWS: Math.min(256, (256 / LANES) * (outDim >= 8192 ? 4 : 2)), LANES };
}

interface LayerKernels {
  qkv: BoundLinear;
  o: BoundLinear;
  gateUp: BoundLinear;
  down: BoundLinear;
}

export class GpuModel {
  /** Position of the next token (tokens seen so far). */
  position = 0;
  private kv: KvCache;
  private kvSettings: KvSettings;
  private readonly attentionIo: AttentionIo;
  private readonly pipelines: PipelineCache;
  private readonly buffers: GPUBuffer[] = [];
  private readonly chunk: number;
  private readonly tokens: GPUBuffer;
  private readonly logits: GPUBuffer;
  private readonly sampledToken: GPUBuffer;
  private readonly tokenReadback: GPUBuffer;
  private readonly chunkBatch: GPUBuffer;
  private readonly lastRowBatch: GPUBuffer;
  private readonly seenTokens: GPUBuffer;
  private readonly penaltyParams: GPUBuffer;
  private readonly topPParams: GPUBuffer;
  private readonly embed: BoundKernel;
  private readonly layers: LayerKernels[];
  private readonly lmHead: BoundLinear;
  private readonly penalty: BoundKernel;
  private readonly argmax: BoundKernel;
  private readonly topP: BoundKernel;
  private lost: string | null = null;

  constructor(
    private readonly device: GPUDevice,
    readonly cfg: ModelConfig,
    private readonly weights: WeightStore,
    /** KV cache capacity in tokens. */
    readonly maxSeq: number,
    kvSettings: KvSettings = DEFAULT_KV_SETTINGS,
  ) {
    void device.lost.then((info) => {
      this.lost = info.message || info.reason || 'unknown reason';
    });
    this.pipelines = new PipelineCache(device);
    const { hiddenSize: hidden, numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: I, vocabSize } = cfg;
    const spec = modelSpec(cfg);
    this.chunk = cfg.prefillChunkSize;
    const T = this.chunk;
    const qkvWidth = (H + 2 * KV) * D;

    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const make = (label: string, bytes: number, usage = storage) => {
      const b = device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
      this.buffers.push(b);
      return b;
    };
    const uniform = (label: string) => make(label, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);

    this.tokens = make('tokens', T * 4);
    const hiddenStates = make('hidden', T * hidden * F32);
    const normed = make('normed', T * hidden * F32);
    const qkv = make('qkv', T * qkvWidth * F32);
    const attnOut = make('attnOut', T * H * D * F32);
    const gateUp = make('gateUp', T * 2 * I * F32);
    const act = make('act', T * I * F32);
    // Prefill's one slot per token; decode's splits, up to attention_f16_decode's one per 256 keys
    // (attention_reduce.wgsl combines at most 1024).
    const slots = Math.max(T, Math.min(1024, Math.max(MAX_SPLITS, Math.ceil(maxSeq / 256))));
    const partialAcc = make('partialAcc', slots * H * D * F32);
    const partialMl = make('partialMl', slots * H * 2 * F32);
    this.logits = make('logits', vocabSize * F32);
    const probs = make('probs', vocabSize * F32);
    this.sampledToken = make('sampledToken', 4);
    this.tokenReadback = make('tokenReadback', 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    this.seenTokens = make('seenTokens', maxSeq * 4);
    this.chunkBatch = uniform('chunkBatch');
    this.lastRowBatch = uniform('lastRowBatch');
    this.penaltyParams = uniform('penaltyParams');
    this.topPParams = uniform('topPParams');
    this.attentionIo = { qkv, attnOut, partialAcc, partialMl, partialSlots: slots };
    this.kvSettings = kvSettings;
    this.kv = createKvCache(device, this.pipelines, cfg, maxSeq, kvSettings, this.attentionIo);
    const invFreq = make('invFreq', (D / 2) * F32);
    device.queue.writeBuffer(invFreq, 0, new Float32Array(ropeInvFreq(cfg)));
    // Bound in place of an absent bias, norm weight or inverse frequencies; never read (HAS_BIAS,
    // NORM, ROPE = false).
    const noBias = make('noBias', 16);

    const linear = (s: LinearSpec): LinearKernel => {
      const names = linearTensorNames(s, cfg.quantization);
      const w = weights.get(names.weight);
      const bias = s.bias ? weights.get(s.bias).buffer : noBias;
      const common = { IN_DIM: s.inDim, OUT_DIM: s.outDim, HAS_BIAS: s.bias !== null };
      return {
        spec: s,
        bind: (x, y, batch, addToOutput, { norm, activation } = {}) => {
          const around = {
            outDim: s.outDim,
            norm: norm?.kernel ?? null,
            activation: activation ? { kernel: activation.kernel, workgroupsX: activation.workgroupsX } : null,
          };
          if (isGroupQuantized(cfg.quantization)) {
            const scale = weights.get(names.scale!);
            const q4 = { ...common, SCALE_F16: scale.dtype === 'float16', ADD_TO_OUTPUT: addToOutput };
            const tiling = gemvTiling(s.outDim, s.inDim);
            const fused = { NORM: norm !== undefined, EPS: cfg.rmsNormEps, ...activation?.overrides };
            const gemvBuffers = [norm?.stream ?? x, w.buffer, scale.buffer, bias, activation?.output ?? y, batch, norm?.weight ?? noBias, activation?.invFreq ?? noBias];
            return {
              ...around,
              chunk: bindKernel(device, this.pipelines.get('matmul_q4', q4), [x, w.buffer, scale.buffer, bias, y, batch]),
              gemv: { kernel: bindKernel(device, this.pipelines.get('matmul_q4_gemv', { ...q4, ...tiling, ...fused }), gemvBuffers), rows: tiling.ROWS },
            };
          }
          const pipeline = this.pipelines.get('matmul_dense', { ...common, WEIGHT_F16: w.dtype === 'float16', ADD_TO_OUTPUT: addToOutput });
          return { ...around, chunk: bindKernel(device, pipeline, [x, w.buffer, bias, y, batch]), gemv: null };
        },
      };
    };
    const norm = (weight: string, batch: GPUBuffer): NormInput => {
      const buffer = weights.get(weight).buffer;
      const kernel = bindKernel(device, this.pipelines.get('rmsnorm', { HIDDEN: hidden, EPS: cfg.rmsNormEps }), [hiddenStates, buffer, normed, batch]);
      return { kernel, stream: hiddenStates, weight: buffer };
    };

    if (isGroupQuantized(cfg.quantization)) {
      const names = linearTensorNames(spec.embed, cfg.quantization);
      const scale = weights.get(names.scale!);
      this.embed = bindKernel(device, this.pipelines.get('embed_q4', { HIDDEN: hidden, SCALE_F16: scale.dtype === 'float16' }), [
        this.tokens, weights.get(names.weight).buffer, scale.buffer, hiddenStates,
      ]);
    } else {
      const table = weights.get(linearTensorNames(spec.embed, cfg.quantization).weight);
      this.embed = bindKernel(device, this.pipelines.get('embed_dense', { HIDDEN: hidden, WEIGHT_F16: table.dtype === 'float16' }), [
        this.tokens, table.buffer, hiddenStates,
      ]);
    }

    const attn = { HEAD_DIM: D, NUM_HEADS: H, NUM_KV_HEADS: KV };
    const batch = this.chunkBatch;
    const rope: Activation = {
      kernel: bindKernel(device, this.pipelines.get('rope', attn), [qkv, invFreq, batch]),
      workgroupsX: Math.ceil(((H + KV) * D) / 2 / 64),
      overrides: { ROPE: true, HEAD_DIM: D, ROPE_HEADS: H + KV },
      invFreq,
    };
    const swiglu: Activation = {
      kernel: bindKernel(device, this.pipelines.get('silu_mul', { INTERMEDIATE: I }), [gateUp, act]),
      workgroupsX: Math.ceil(I / 64),
      overrides: { SWIGLU: true },
      output: act,
    };
    this.layers = spec.layers.map((l) => ({
      qkv: linear(l.qkv).bind(normed, qkv, batch, false, { norm: norm(l.inputNorm, batch), activation: rope }),
      o: linear(l.o).bind(attnOut, hiddenStates, batch, true),
      gateUp: linear(l.gateUp).bind(normed, gateUp, batch, false, { norm: norm(l.postNorm, batch), activation: swiglu }),
      down: linear(l.down).bind(act, hiddenStates, batch, true),
    }));
    this.lmHead = linear(spec.lmHead).bind(normed, this.logits, this.lastRowBatch, false, { norm: norm(spec.finalNorm, this.lastRowBatch) });
    this.penalty = bindKernel(device, this.pipelines.get('sample_penalty'), [this.logits, this.seenTokens, this.penaltyParams]);
    this.argmax = bindKernel(device, this.pipelines.get('sample_argmax', { VOCAB: vocabSize }), [this.logits, this.sampledToken]);
    this.topP = bindKernel(device, this.pipelines.get('sample_top_p', { VOCAB: vocabSize }), [this.logits, probs, this.sampledToken, this.topPParams]);
  }

  get weightBytes(): number {
    return this.weights.bytes;
  }

  /** Tokens held in the KV cache. */
  get length(): number {
    return this.kv.length;
  }

  /** The KV cache, for tools that time its kernels alone (bench/). */
  get kvCache(): KvCache {
    return this.kv;
  }

  get settings(): KvSettings {
    return this.kvSettings;
  }

  kvBytes(): KvBytes {
    return this.kv.bytes();
  }

  /** Keeps the first `keep` tokens of the cache, or fewer where the layout cannot cut there;
   *  returns how many it kept. */
  truncate(keep: number): number {
    this.position = this.kv.truncate(keep);
    return this.position;
  }

  /** Replaces the KV cache with an empty one using `settings` (the conversation is re-prefilled). */
  rebuildKvCache(settings: KvSettings): void {
    this.kv.destroy();
    this.kvSettings = settings;
    this.kv = createKvCache(this.device, this.pipelines, this.cfg, this.maxSeq, settings, this.attentionIo);
    this.position = 0;
  }

  /** Runs `tokens` at positions length.. in prefill chunks, leaving the last token's logits on the GPU. */
  forward(tokens: ArrayLike<number>): void {
    this.checkAlive();
    if (tokens.length === 0) throw new Error('forward needs at least one token');
    if (this.length + tokens.length > this.maxSeq) throw new ContextFullError(this.length + tokens.length, this.maxSeq);
    for (let start = 0; start < tokens.length; start += this.chunk) {
      const chunk = Array.from({ length: Math.min(this.chunk, tokens.length - start) }, (_, i) => tokens[start + i]);
      const encoder = this.device.createCommandEncoder({ label: 'forward' });
      this.recordForward(encoder, chunk);
      this.device.queue.submit([encoder.finish()]);
    }
  }

  /** Runs a prompt like forward(), letting the cache evict (policy permitting) after every chunk,
   *  so a prompt longer than the cache's capacity fits when a budget keeps the cache small. */
  async prefill(tokens: ArrayLike<number>): Promise<void> {
    for (let start = 0; start < tokens.length; start += this.chunk) {
      this.forward(Array.from({ length: Math.min(this.chunk, tokens.length - start) }, (_, i) => tokens[start + i]));
      await this.kv.maintain(this.position, 'prefill');
    }
  }

  /** Samples the next token from the logits left by forward(); `seen` are the distinct tokens to penalise. */
  async sample(sampling: Sampling, seen: ArrayLike<number>): Promise<number> {
    this.checkAlive();
    const encoder = this.device.createCommandEncoder({ label: 'sample' });
    this.recordSample(encoder, sampling, seen);
    return this.readToken(encoder);
  }

  /** One decode step: forward of `token` and sampling, in one submit. */
  async step(token: number, sampling: Sampling, seen: ArrayLike<number>): Promise<number> {
    this.checkAlive();
    if (this.length + 1 > this.maxSeq) throw new ContextFullError(this.length + 1, this.maxSeq);
    const encoder = this.device.createCommandEncoder({ label: 'decode' });
    this.recordDecodeStep(encoder, token, sampling, seen);
    const next = await this.readToken(encoder);
    await this.kv.maintain(this.position, 'decode');
    return next;
  }

  /** The logits of the last forward() (before any penalty), for tests and tools. */
  async readLogits(): Promise<Float32Array> {
    this.checkAlive();
    const size = this.cfg.vocabSize * F32;
    const readback = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.logits, 0, readback, 0, size);
    this.device.queue.submit([encoder.finish()]);
    try {
      await this.mapRead(readback);
      return new Float32Array(readback.getMappedRange().slice(0));
    } finally {
      readback.destroy();
    }
  }

  /** Records one decode step (the forward pass for `token`, then sampling) into `encoder` without
   *  submitting it; the cache and position advance as step() would advance them. bench/profile.ts
   *  replays what it records, kernel by kernel. */
  recordDecodeStep(encoder: GPUCommandEncoder, token: number, sampling: Sampling, seen: ArrayLike<number>): void {
    this.recordForward(encoder, [token]);
    this.recordSample(encoder, sampling, seen);
  }

  /** Frees the model's own buffers and its KV cache; the weights belong to whoever uploaded them. */
  destroy(): void {
    this.kv.destroy();
    for (const b of this.buffers) b.destroy();
  }

  private recordForward(encoder: GPUCommandEncoder, tokens: number[]): void {
    const { cfg, device } = this;
    const T = tokens.length;
    device.queue.writeBuffer(this.tokens, 0, Uint32Array.from(tokens));
    device.queue.writeBuffer(this.chunkBatch, 0, Uint32Array.of(T, this.position, 1, 0));
    device.queue.writeBuffer(this.lastRowBatch, 0, Uint32Array.of(1, this.position, 1, T - 1));
    this.kv.beginChunk(T, this.position);

    const { hiddenSize: hidden } = cfg;
    const pass = encoder.beginComputePass({ label: 'forward' });
    dispatch(pass, this.embed, isGroupQuantized(cfg.quantization) ? Math.ceil(hidden / 8 / 64) : Math.ceil(hidden / 64), T);
    this.layers.forEach((layer, l) => {
      recordLinear(pass, layer.qkv, T);
      this.kv.recordLayer(pass, l);
      recordLinear(pass, layer.o, T);
      recordLinear(pass, layer.gateUp, T);
      recordLinear(pass, layer.down, T);
    });
    recordLinear(pass, this.lmHead, 1);
    pass.end();
    this.kv.endChunk();
    this.position += T;
  }

  private recordSample(encoder: GPUCommandEncoder, sampling: Sampling, seen: ArrayLike<number>): void {
    const { device } = this;
    const penalise = sampling.repetitionPenalty !== 1 && seen.length > 0;
    if (penalise) {
      device.queue.writeBuffer(this.seenTokens, 0, Uint32Array.from(seen));
      const params = new ArrayBuffer(16);
      new Uint32Array(params, 0, 1)[0] = seen.length;
      new Float32Array(params, 4, 1)[0] = sampling.repetitionPenalty;
      device.queue.writeBuffer(this.penaltyParams, 0, params);
    }
    if (sampling.kind === 'top-p') {
      device.queue.writeBuffer(this.topPParams, 0, Float32Array.of(sampling.temperature, sampling.topP, sampling.u, 0));
    }
    const pass = encoder.beginComputePass({ label: 'sample' });
    if (penalise) dispatch(pass, this.penalty, Math.ceil(seen.length / 64));
    dispatch(pass, sampling.kind === 'greedy' ? this.argmax : this.topP, 1);
    pass.end();
  }

  private async readToken(encoder: GPUCommandEncoder): Promise<number> {
    encoder.copyBufferToBuffer(this.sampledToken, 0, this.tokenReadback, 0, 4);
    this.device.queue.submit([encoder.finish()]);
    await this.mapRead(this.tokenReadback);
    const token = new Uint32Array(this.tokenReadback.getMappedRange())[0];
    this.tokenReadback.unmap();
    return token;
  }

  private async mapRead(buffer: GPUBuffer): Promise<void> {
    try {
      await buffer.mapAsync(GPUMapMode.READ);
    } catch (err) {
      this.checkAlive();
      throw err;
    }
  }

  private checkAlive(): void {
    if (this.lost !== null) throw new DeviceLostError(this.lost);
  }
}

/** Records `lin` for T tokens: matmul_q4_gemv when T = 1 and the layer has it (with the norm and
 *  activation fused), else the layer's norm, the chunk kernel and its activation over T rows (grids
 *  as their headers state). */
function recordLinear(pass: GPUComputePassEncoder, lin: BoundLinear, T: number): void {
  if (T === 1 && lin.gemv) {
    const workgroups = Math.ceil(lin.outDim / lin.gemv.rows);
    const x = Math.min(workgroups, MAX_GRID);
    dispatch(pass, lin.gemv.kernel, x, Math.ceil(workgroups / x), 1);
    return;
  }
  if (lin.norm) dispatch(pass, lin.norm, T);
  dispatch(pass, lin.chunk, Math.ceil(lin.outDim / 8), Math.ceil(T / 4));
  if (lin.activation) dispatch(pass, lin.activation.kernel, lin.activation.workgroupsX, T);
}
