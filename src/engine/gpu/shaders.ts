// Every WGSL kernel, imported as text. Kernels are specialised only through `override` constants,
// and the one template step is concatenation (WGSL has no includes): the KIVI quantizing kernels get
// the shared helpers of kivi_quantize.wgsl prepended, the rotary kernels rope_sincos.wgsl's sinCos.
import attentionF16 from '../../../shaders/attention_f16.wgsl?raw';
import attentionF16Decode from '../../../shaders/attention_f16_decode.wgsl?raw';
import attentionKivi from '../../../shaders/attention_kivi.wgsl?raw';
import attentionKiviDecode from '../../../shaders/attention_kivi_decode.wgsl?raw';
import attentionReduce from '../../../shaders/attention_reduce.wgsl?raw';
import embedDense from '../../../shaders/embed_dense.wgsl?raw';
import embedQ4 from '../../../shaders/embed_q4.wgsl?raw';
import kiviAppend from '../../../shaders/kivi_append.wgsl?raw';
import kiviCompactKeys from '../../../shaders/kivi_compact_keys.wgsl?raw';
import kiviCompactValues from '../../../shaders/kivi_compact_values.wgsl?raw';
import kiviQuantKeys from '../../../shaders/kivi_quant_keys.wgsl?raw';
import kiviQuantValues from '../../../shaders/kivi_quant_values.wgsl?raw';
import kiviQuantize from '../../../shaders/kivi_quantize.wgsl?raw';
import kvAppendF16 from '../../../shaders/kv_append_f16.wgsl?raw';
import kvCompactF16 from '../../../shaders/kv_compact_f16.wgsl?raw';
import kvPoolLmba from '../../../shaders/kv_pool_lmba.wgsl?raw';
import kvPositionsAppend from '../../../shaders/kv_positions_append.wgsl?raw';
import kvScoreFp16 from '../../../shaders/kv_score_fp16.wgsl?raw';
import kvScoreKivi from '../../../shaders/kv_score_kivi.wgsl?raw';
import kvSelect from '../../../shaders/kv_select.wgsl?raw';
import kvWindowCapture from '../../../shaders/kv_window_capture.wgsl?raw';
import matmulDense from '../../../shaders/matmul_dense.wgsl?raw';
import matmulQ4 from '../../../shaders/matmul_q4.wgsl?raw';
import matmulQ4Gemv from '../../../shaders/matmul_q4_gemv.wgsl?raw';
import rmsnorm from '../../../shaders/rmsnorm.wgsl?raw';
import rope from '../../../shaders/rope.wgsl?raw';
import ropeSinCos from '../../../shaders/rope_sincos.wgsl?raw';
import sampleArgmax from '../../../shaders/sample_argmax.wgsl?raw';
import samplePenalty from '../../../shaders/sample_penalty.wgsl?raw';
import sampleTopP from '../../../shaders/sample_top_p.wgsl?raw';
import siluMul from '../../../shaders/silu_mul.wgsl?raw';

const withQuantize = (kernel: string) => `${kiviQuantize}\n${kernel}`;
const withSinCos = (kernel: string) => `${ropeSinCos}\n${kernel}`;

export const SHADERS = {
  attention_f16: attentionF16,
  attention_f16_decode: attentionF16Decode,
  attention_kivi: attentionKivi,
  attention_kivi_decode: attentionKiviDecode,
  attention_reduce: attentionReduce,
  embed_dense: embedDense,
  embed_q4: embedQ4,
  kivi_append: kiviAppend,
  kivi_compact_keys: withQuantize(kiviCompactKeys),
  kivi_compact_values: withQuantize(kiviCompactValues),
  kivi_quant_keys: withQuantize(kiviQuantKeys),
  kivi_quant_values: withQuantize(kiviQuantValues),
  kv_append_f16: kvAppendF16,
  kv_compact_f16: kvCompactF16,
  kv_pool_lmba: kvPoolLmba,
  kv_positions_append: kvPositionsAppend,
  kv_score_fp16: kvScoreFp16,
  kv_score_kivi: kvScoreKivi,
  kv_select: kvSelect,
  kv_window_capture: kvWindowCapture,
  matmul_dense: matmulDense,
  matmul_q4: matmulQ4,
  matmul_q4_gemv: withSinCos(matmulQ4Gemv),
  rmsnorm,
  rope: withSinCos(rope),
  sample_argmax: sampleArgmax,
  sample_penalty: samplePenalty,
  sample_top_p: sampleTopP,
  silu_mul: siluMul,
} as const;

export type KernelName = keyof typeof SHADERS;

export type Overrides = Record<string, number | boolean>;

/** Compute pipelines by kernel and override constants, created once per device. */
export class PipelineCache {
  private readonly modules = new Map<KernelName, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(private readonly device: GPUDevice) {}

  get(kernel: KernelName, overrides: Overrides = {}): GPUComputePipeline {
    const key = `${kernel}:${JSON.stringify(overrides)}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      let module = this.modules.get(kernel);
      if (!module) {
        module = this.device.createShaderModule({ label: kernel, code: SHADERS[kernel] });
        this.modules.set(kernel, module);
      }
      const constants = Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, Number(v)]));
      pipeline = this.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint: 'main', constants } });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }
}

/** A pipeline with its bind group, ready to record. */
export interface BoundKernel {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
}

export function bindKernel(device: GPUDevice, pipeline: GPUComputePipeline, buffers: GPUBuffer[]): BoundKernel {
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  return { pipeline, bindGroup };
}

export function dispatch(pass: GPUComputePassEncoder, k: BoundKernel, x: number, y = 1, z = 1): void {
  pass.setPipeline(k.pipeline);
  pass.setBindGroup(0, k.bindGroup);
  pass.dispatchWorkgroups(x, y, z);
}
