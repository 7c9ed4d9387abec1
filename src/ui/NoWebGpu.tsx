import { WebGpuUnavailableError } from '../engine/errors';
import { useChat } from '../state/store';

/** Replaces the chat when the browser cannot run the engine at all, with where WebGPU is available. */
export function NoWebGpu() {
  // The engine's own words, when it was the one that found WebGPU missing.
  const error = useChat((s) => (s.error?.code === 'webgpu-unavailable' ? s.error : null));
  const { message, hint } = error ?? new WebGpuUnavailableError().toJSON();
  return (
    <section
      data-testid="no-webgpu"
      role="alert"
      className="rounded-lg border border-amber-300 bg-amber-50 p-4 text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100"
    >
      <h2 className="font-semibold">WebGPU is not available in this browser</h2>
      <p className="mt-1 text-sm">{message}</p>
      <p className="mt-1 text-sm">{hint}</p>
      <h3 className="mt-3 text-sm font-semibold">Where kvchat runs</h3>
      <ul className="mt-1 list-disc pl-5 text-sm">
        <li>Chrome or Edge 113 or newer on Windows, macOS and ChromeOS; Chrome 121 or newer on Android.</li>
        <li>
          Chrome on Linux: open <code>chrome://flags/#enable-unsafe-webgpu</code>, enable it, and restart the browser (or start it
          with <code>--enable-unsafe-webgpu</code>).
        </li>
        <li>Safari 26 on macOS, iOS and iPadOS.</li>
        <li>
          Firefox 141 or newer on Windows; elsewhere Firefox Nightly, or set <code>dom.webgpu.enabled</code> in <code>about:config</code>.
        </li>
        <li>If WebGPU is enabled and this page still appears, the GPU may be blocklisted: check <code>chrome://gpu</code> and update the graphics driver.</li>
      </ul>
    </section>
  );
}
