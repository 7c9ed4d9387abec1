// The browser globals web-llm touches, for running it unchanged in Node on Dawn: navigator.gpu,
// location, an in-memory Cache Storage (web-llm caches config, library and shards through
// caches.open), and GPU buffer accounting on every device it (or kvchat) creates.

/** Bytes of GPU buffers alive on one device (now, and the most at once) and the command buffers
 *  submitted to its queue. */
export class BufferLedger {
  live = 0;
  peak = 0;
  submits = 0;

  /** Wraps `device.createBuffer` (and each buffer's destroy) to count sizes, and queue.submit to count submits. */
  watch(device: GPUDevice): GPUDevice {
    const queue = device.queue;
    const submit = queue.submit.bind(queue);
    queue.submit = (commandBuffers: Iterable<GPUCommandBuffer>): undefined => {
      this.submits++;
      return submit(commandBuffers);
    };
    const create = device.createBuffer.bind(device);
    device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
      const buffer = create(descriptor);
      const size = descriptor.size;
      this.live += size;
      this.peak = Math.max(this.peak, this.live);
      const destroy = buffer.destroy.bind(buffer);
      let destroyed = false;
      buffer.destroy = () => {
        if (!destroyed) this.live -= size;
        destroyed = true;
        destroy();
      };
      return buffer;
    };
    return device;
  }
}

/** A GPU entry point whose devices all report to a fresh ledger, handed to `onDevice`. */
export function accountedGpu(gpu: GPU, onDevice: (ledger: BufferLedger, device: GPUDevice) => void): GPU {
  const requestAdapter = async (options?: GPURequestAdapterOptions): Promise<GPUAdapter | null> => {
    const adapter = await gpu.requestAdapter(options);
    if (!adapter) return null;
    const requestDevice = adapter.requestDevice.bind(adapter);
    adapter.requestDevice = async (descriptor?: GPUDeviceDescriptor): Promise<GPUDevice> => {
      const device = await requestDevice(descriptor);
      const ledger = new BufferLedger();
      ledger.watch(device);
      onDevice(ledger, device);
      return device;
    };
    return adapter;
  };
  return {
    requestAdapter,
    getPreferredCanvasFormat: () => 'bgra8unorm',
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
    __brand: 'GPU',
  } as GPU;
}

/** Cache Storage kept in memory: the calls tvmjs's ArtifactCache makes (open, match, add, put, keys, delete). */
class MemoryCache {
  private readonly entries = new Map<string, { body: Uint8Array; type: string }>();

  async match(request: RequestInfo | URL): Promise<Response | undefined> {
    const entry = this.entries.get(urlOf(request));
    return entry && new Response(entry.body.slice(), { headers: { 'content-type': entry.type } });
  }

  async add(request: RequestInfo | URL): Promise<void> {
    const response = await fetch(urlOf(request));
    if (!response.ok) throw new TypeError(`fetch ${urlOf(request)}: HTTP ${response.status}`);
    await this.put(request, response);
  }

  async put(request: RequestInfo | URL, response: Response): Promise<void> {
    const body = new Uint8Array(await response.arrayBuffer());
    this.entries.set(urlOf(request), { body, type: response.headers.get('content-type') ?? 'application/octet-stream' });
  }

  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((url) => new Request(url));
  }

  async delete(request: RequestInfo | URL): Promise<boolean> {
    return this.entries.delete(urlOf(request));
  }
}

function urlOf(request: RequestInfo | URL): string {
  if (typeof request === 'string') return request;
  return request instanceof URL ? request.href : request.url;
}

/** Installs navigator.gpu, location, caches and __dirname on globalThis for a page served from `origin`. */
export function installBrowserGlobals(gpu: GPU, origin: string): void {
  const stores = new Map<string, MemoryCache>();
  const caches = {
    open: async (name: string) => stores.get(name) ?? stores.set(name, new MemoryCache()).get(name)!,
    has: async (name: string) => stores.has(name),
    delete: async (name: string) => stores.delete(name),
    keys: async () => [...stores.keys()],
    match: async (request: RequestInfo | URL) => {
      for (const store of stores.values()) {
        const hit = await store.match(request);
        if (hit) return hit;
      }
      return undefined;
    },
  };
  const define = (name: string, value: unknown) => Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  define('navigator', { gpu, userAgent: 'node', language: 'en-US', languages: ['en-US'] });
  define('location', new URL(origin));
  define('caches', caches);
  // The Emscripten runtimes inside web-llm take their Node branch (process exists) and read
  // __dirname, which an ES module lacks; they are handed their wasm bytes, so any folder will do.
  define('__dirname', process.cwd());
}

/**
 * Runs `work` with process.versions.node hidden. The Emscripten runtimes inside web-llm pick their
 * environment when they start, inside engine.reload(): in Node they take their Node branch, which
 * assigns the runtime to the enclosing CommonJS `module.exports` and so replaces the tvmjs exports
 * web-llm reads next (detectGPUDevice). With the version hidden they take the browser branch, as
 * they do in a page; they are handed their wasm bytes, so nothing else differs.
 */
export async function asBrowserRuntime<T>(work: () => Promise<T>): Promise<T> {
  const versions = process.versions;
  Object.defineProperty(process, 'versions', { value: { ...versions, node: undefined }, configurable: true, writable: false });
  try {
    return await work();
  } finally {
    Object.defineProperty(process, 'versions', { value: versions, configurable: true, writable: false });
  }
}
