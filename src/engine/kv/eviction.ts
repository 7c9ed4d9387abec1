// Eviction steps 1-3 and their bookkeeping for any KV cache (buffers and steps: evictionLayout.ts):
// positions of kept tokens, the observation window's queries and softmax statistics, scores, LMBA,
// and selection. The caches own their storage and compaction (step 4); this owns the rest.
//
// What a decode step pays: at most one kv_window_capture dispatch per layer, and none while no layer
// can go over budget within the window's W steps (budgets change only at events, and kept tokens
// grow by one a step, so the next event is known: its window's queries are all captured). The
// step's position is left pending and written by the next event or prefill chunk (the pending
// tokens are the newest kept ones of every layer, at consecutive positions). An event in decode allocates the
// budgets from the last measured LMBA (prefill events measure it, waiting for its read-back) and
// scores, pools and selects only the layers over budget, all recorded into the cache's one submit.
// An event works through its evicting layers one at a time (score, pool, select, then the cache's
// compaction of that layer), so the layers share the event's working buffers.
import { UnsupportedModelError } from '../errors';
import { bindKernel, dispatch, type BoundKernel, type PipelineCache } from '../gpu/shaders';
import type { ModelConfig } from '../model/types';
import { POLICIES, roundToBlocks, type BudgetPolicy } from './budgets';
import type { AttentionIo } from './cache';
import { EVICTION_DEFAULTS } from './evictionLayout';
import type { KvSettings } from './settings';

/** One layer's eviction buffers (evictionLayout.ts). */
/** A layer's eviction state. `scratchPositions`, `scores`, `pooled`, `newIndex` and `sourceOf` are
 *  the same buffers in every layer: an event works through its layers one at a time. */
export interface EvictionLayer {
  positions: GPUBuffer;
  scratchPositions: GPUBuffer;
  queryRing: GPUBuffer;
  statsRing: GPUBuffer;
  scores: GPUBuffer;
  pooled: GPUBuffer;
  lmba: GPUBuffer;
  newIndex: GPUBuffer;
  sourceOf: GPUBuffer;
  /** EvictParams (32 bytes), then the KIVI ring's residualStart (48 bytes in all). */
  params: GPUBuffer;
  positionsParams: GPUBuffer;
  appendPositions: BoundKernel;
  capture: BoundKernel;
  score: BoundKernel | null;
  poolLmba: BoundKernel;
  /** kv_pool_lmba without the LMBA bisection (decode events). */
  pool: BoundKernel;
  select: BoundKernel;
}

/** What a cache tells the eviction about one layer when an event starts. */
export interface LayerState {
  /** Tokens each head holds. */
  kept: number;
  /** Newest kept tokens never evicted (the KIVI residual, or the window for fp16). */
  recent: number;
}

/** The decision for one layer: how many tokens each head keeps. */
export interface LayerPlan {
  evict: boolean;
  budget: number;
  newKept: number;
}

export class Eviction {
  readonly policy: BudgetPolicy;
  readonly layers: EvictionLayer[];
  private readonly lmbaReadback: GPUBuffer;
  private readonly buffers: GPUBuffer[] = [];
  /** Bytes of the event buffers the layers share (scores, pooled, selection, new positions). */
  readonly sharedBytes: number;
  /** LMBA per layer (mean over KV heads) as last measured; null before the first measurement. */
  private lmba: number[] | null = null;
  /** Decode tokens whose positions are not written yet: the newest `pendingTokens` kept tokens of
   *  every layer, at original positions pendingFrom, pendingFrom + 1, ... */
  private pendingFrom = 0;
  private pendingTokens = 0;
  /** Tokens whose positions the chunk being recorded writes (the pending ones, then its own). */
  private chunkAppend = 0;
  /** Whether the chunk being recorded captures its queries into the window. */
  private captureChunk = true;
  /** Each layer's kept tokens at the event being recorded (what its scoring pass covers). */
  private scoredKept: number[] = [];

  constructor(
    private readonly device: GPUDevice,
    pipelines: PipelineCache,
    private readonly cfg: ModelConfig,
    readonly capacity: number,
    readonly settings: KvSettings,
    io: AttentionIo,
    /** The Batch-prefixed uniform whose startPos is the chunk's original position (see kv_window_capture). */
    captureBatch: GPUBuffer,
  ) {
    this.policy = POLICIES[settings.policy];
    const { numHeads: H, numKvHeads: KV, headDim: D } = cfg;
    // kv_score_* hold a token's key in a private array of at most 128 channels.
    if (D > 128) throw new UnsupportedModelError(`Eviction scores keys of up to 128 channels; this model's heads have ${D}.`);
    const W = settings.window;
    const C = capacity;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const make = (label: string, bytes: number, usage = storage) => {
      const b = device.createBuffer({ label, size: Math.max(16, bytes), usage });
      this.buffers.push(b);
      return b;
    };
    const uniform = (label: string, bytes: number) => make(label, bytes, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.lmbaReadback = make('lmbaReadback', cfg.numLayers * KV * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    // An event's working buffers serve one layer at a time (scored, pooled, selected and compacted
    // before the next), so the layers share them: [KV, capacity] each.
    const shared = (name: string) => make(`eviction.${name}`, KV * C * 4);
    const scratchPositions = shared('scratchPositions');
    const scores = shared('scores');
    const pooled = shared('pooled');
    const newIndex = shared('newIndex');
    const sourceOf = shared('sourceOf');
    this.sharedBytes = [scratchPositions, scores, pooled, newIndex, sourceOf].reduce((n, b) => n + b.size, 0);
    this.layers = Array.from({ length: cfg.numLayers }, (_, l) => {
      const positions = make(`layer${l}.positions`, KV * C * 4);
      const queryRing = make(`layer${l}.queryRing`, W * H * D * 4);
      const statsRing = make(`layer${l}.statsRing`, W * H * 2 * 4);
      const lmba = make(`layer${l}.lmba`, KV * 4);
      const params = uniform(`layer${l}.evictParams`, 48);
      const positionsParams = uniform(`layer${l}.positionsParams`, 16);
      return {
        positions, scratchPositions, queryRing, statsRing, scores, pooled, lmba, newIndex, sourceOf, params, positionsParams,
        appendPositions: bindKernel(device, pipelines.get('kv_positions_append', { NUM_KV_HEADS: KV, CAPACITY: C }), [positions, positionsParams]),
        capture: bindKernel(device, pipelines.get('kv_window_capture', { HEAD_DIM: D, NUM_HEADS: H, NUM_KV_HEADS: KV, WINDOW: W }), [
          io.qkv, io.partialMl, queryRing, statsRing, captureBatch,
        ]),
        score: null,
        poolLmba: bindKernel(device, pipelines.get('kv_pool_lmba', { CAPACITY: C }), [scores, pooled, lmba, params]),
        pool: bindKernel(device, pipelines.get('kv_pool_lmba', { CAPACITY: C, WITH_LMBA: false }), [scores, pooled, lmba, params]),
        select: bindKernel(device, pipelines.get('kv_select', { CAPACITY: C }), [positions, pooled, newIndex, sourceOf, params]),
      };
    });
  }

  /** Binds layer `l`'s scoring kernel, which reads the cache's own key storage. */
  setScoreKernel(l: number, kernel: BoundKernel): void {
    this.layers[l].score = kernel;
  }

  /** Per chunk at original positions position.., before recording; kept[l] = tokens layer l holds
   *  before it, budgets[l] its budget from the last event and `slack` the excess that triggers a
   *  decode event (needsEviction). A decode step (one token) only joins the pending positions, and
   *  captures its query only if an event may come within the window; a prefill chunk always
   *  captures, and writes the pending positions with its own. */
  beginChunk(kept: number[], position: number, numTokens: number, budgets: number[], slack: number): void {
    const W = this.settings.window;
    // The event after the step j steps from now (j = 0: this one) sees kept[l] + 1 + j tokens and
    // needs this query while j < W.
    this.captureChunk = numTokens > 1 || !budgets.every(Number.isFinite) || kept.some((k, l) => k + W > budgets[l] + slack);
    if (numTokens === 1) {
      if (this.pendingTokens === 0) this.pendingFrom = position;
      this.pendingTokens++;
      this.chunkAppend = 0;
      return;
    }
    this.chunkAppend = this.writePending(kept.map((k) => k + numTokens), position, numTokens);
  }

  /** Per chunk and layer, after the attention partials exist: positions (prefill) and window capture
   *  (when beginChunk found it needed). */
  recordChunk(pass: GPUComputePassEncoder, l: number, numTokens: number): void {
    const layer = this.layers[l];
    if (this.chunkAppend > 0) dispatch(pass, layer.appendPositions, Math.ceil(this.chunkAppend / 64), this.cfg.numKvHeads);
    if (this.captureChunk) dispatch(pass, layer.capture, this.cfg.numHeads, numTokens);
  }

  /** After the cache dropped all but its first `kept` tokens (never after an eviction: then it drops
   *  everything), so kept index = position and pending tokens past `kept` are gone. */
  truncated(kept: number): void {
    this.pendingTokens = Math.max(0, Math.min(this.pendingTokens, kept - this.pendingFrom));
  }

  /** Uploads each layer's kv_positions_append uniform for the pending tokens followed by `numTokens`
   *  new ones at `position`.. (consecutive: the pending ones end where they start); `kept[l]` counts
   *  them all, the newest of layer l. Clears the pending tokens; returns how many get written. */
  private writePending(kept: number[], position: number, numTokens: number): number {
    const from = this.pendingTokens > 0 ? this.pendingFrom : position;
    const count = this.pendingTokens + numTokens;
    kept.forEach((k, l) => this.device.queue.writeBuffer(this.layers[l].positionsParams, 0, Uint32Array.of(k - count, from, count, 0)));
    this.pendingTokens = 0;
    return count;
  }

  /** Average tokens kept per layer once `seen` tokens went through the model. */
  averageBudget(seen: number): number {
    return this.settings.budgetTokens > 0 ? this.settings.budgetTokens : this.settings.budgetFraction * seen;
  }

  /** Whether some layer holds more than its share by more than `slack` tokens (a whole block in
   *  decode, nothing after prefill): against each layer's budget from the last event, or, before
   *  the first, the mean kept against the average budget. */
  needsEviction(states: LayerState[], seen: number, slack: number, budgets: number[]): boolean {
    if (!this.policy.evicts) return false;
    if (budgets.every(Number.isFinite)) return states.some((s, l) => s.kept > budgets[l] + slack);
    const meanKept = states.reduce((n, s) => n + s.kept, 0) / states.length;
    return meanKept > this.averageBudget(seen) + slack;
  }

  /**
   * Steps 1-3 of an event. `floor` is the fewest tokens a layer may keep; `plan` turns a layer's budget
   * into its new count. When the policy needs LMBA and it is to be measured (a prefill event, or the
   * first event), every layer is scored and pooled with LMBA, the CPU waits for its read-back and
   * allocates; otherwise (decode, or a policy without LMBA) the budgets come first, from the last LMBA,
   * with no read-back. Returns the plans and an encoder (pending positions recorded, nothing
   * submitted) into which the cache records, per evicting layer, recordLayerSelect and then its
   * compaction, and which it submits.
   */
  async select(
    states: LayerState[],
    seen: number,
    block: number,
    floor: number,
    plan: (l: number, budget: number) => LayerPlan,
    phase: 'prefill' | 'decode',
    residualStart = 0,
  ): Promise<{ plans: LayerPlan[]; encoder: GPUCommandEncoder }> {
    const { device, cfg } = this;
    const KV = cfg.numKvHeads;
    const window = Math.min(this.settings.window, seen);
    const writeParams = (l: number, select: number) => {
      const params = new ArrayBuffer(48);
      const words = new Uint32Array(params);
      words.set([states[l].kept, select, this.settings.sinks, states[l].recent, window, seen]);
      new Float32Array(params, 24, 1)[0] = EVICTION_DEFAULTS.tau;
      words[8] = residualStart;
      device.queue.writeBuffer(this.layers[l].params, 0, params);
    };
    // Candidates to choose beside the sinks (all kept: they are the oldest tokens) and the recent ones.
    const writeSelect = (plans: LayerPlan[]) =>
      plans.forEach((p, l) => p.evict && writeParams(l, p.newKept - (states[l].recent + Math.min(this.settings.sinks, states[l].kept))));
    const allocate = (lmba: number[]) =>
      roundToBlocks(
        this.policy.allocate({ numLayers: cfg.numLayers, averageBudget: this.averageBudget(seen), lmba, beta: EVICTION_DEFAULTS.beta }),
        block,
        floor,
      ).map((budget, l) => plan(l, budget));

    const measure = this.policy.needsLmba && (phase === 'prefill' || this.lmba === null);
    const early = measure ? null : allocate(this.lmba ?? states.map(() => 0));
    if (early) writeSelect(early);
    else states.forEach((_, l) => writeParams(l, 0));
    const encoder = device.createCommandEncoder({ label: 'evict' });
    const pass = encoder.beginComputePass();
    if (this.pendingTokens > 0) {
      const count = this.writePending(states.map((s) => s.kept), 0, 0);
      this.layers.forEach((layer) => dispatch(pass, layer.appendPositions, Math.ceil(count / 64), KV));
    }
    this.scoredKept = states.map((s) => s.kept);
    if (early) {
      pass.end();
      return { plans: early, encoder };
    }
    // LMBA of every layer, one after another through the shared scores (recordLayerSelect scores
    // the evicting layers again for their selection).
    this.layers.forEach((layer, l) => {
      dispatch(pass, layer.score!, Math.ceil(states[l].kept / 64), KV);
      dispatch(pass, layer.poolLmba, KV);
    });
    pass.end();

    this.layers.forEach((layer, l) => encoder.copyBufferToBuffer(layer.lmba, 0, this.lmbaReadback, l * KV * 4, KV * 4));
    device.queue.submit([encoder.finish()]);
    await this.lmbaReadback.mapAsync(GPUMapMode.READ);
    const heads = new Uint32Array(this.lmbaReadback.getMappedRange().slice(0));
    this.lmbaReadback.unmap();
    const lmba = (this.lmba = states.map((_, l) => heads.subarray(l * KV, (l + 1) * KV).reduce((a, b) => a + b, 0) / KV));
    const plans = allocate(lmba);
    writeSelect(plans);
    return { plans, encoder: device.createCommandEncoder({ label: 'evict' }) };
  }

  /** Records steps 2-3 of an event for evicting layer `l` into the shared buffers: scores, pooling,
   *  selection (newIndex, sourceOf). The cache records the layer's compaction right after, reading
   *  them and leaving its new positions in `scratchPositions`, before the next layer's turn. */
  recordLayerSelect(pass: GPUComputePassEncoder, l: number): void {
    const layer = this.layers[l];
    const KV = this.cfg.numKvHeads;
    dispatch(pass, layer.score!, Math.ceil(this.scoredKept[l] / 64), KV);
    dispatch(pass, layer.pool, KV);
    dispatch(pass, layer.select, KV);
  }

  /** Bytes of one layer's own eviction buffers (uniforms, the shared event buffers and the
   *  read-back left out). */
  layerBytes(): number {
    const l = this.layers[0];
    return [l.positions, l.queryRing, l.statsRing, l.lmba].reduce((n, b) => n + b.size, 0);
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
