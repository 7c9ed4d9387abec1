import { WebGpuUnavailableError } from '../engine/errors';
import { useChat } from '../state/store';

/** Replaces the app when the browser cannot run the engine at all. */
export function NoWebGpu() {
  // The engine's own words, when it was the one that found WebGPU missing.
  const error = useChat((s) => (s.error?.code === 'webgpu-unavailable' ? s.error : null));
  const { message, hint } = error ?? new WebGpuUnavailableError().toJSON();
  return (
    <section data-testid="no-webgpu" role="alert" className="rounded-lg border border-amber-300 bg-amber-50 p-4">
      <h2 className="font-semibold text-amber-900">WebGPU is not available in this browser</h2>
      <p className="mt-1 text-sm text-amber-900">{message}</p>
      <p className="mt-1 text-sm text-amber-800">{hint}</p>
    </section>
  );
}
