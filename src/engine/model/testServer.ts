/// <reference types="node" />
// Test helpers for the model loader in Node: the fixture generator (scripts/gen-fixtures.mjs) and
// a static file server on an ephemeral localhost port. The server's `respond` can replace what a
// path serves (a different body, or a status such as 404) without copying files.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

import type { TensorData } from './types';

/** What scripts/gen-fixtures.mjs exports. */
export interface FixtureGenerator {
  FIXTURES: Record<string, { modelType: string; quantization: string }>;
  /** files: file name -> bytes; tensors: every tensor as a loader should hand it out, in manifest order. */
  buildFixture(name: string): { files: Map<string, Uint8Array>; tensors: TensorData[] };
  writeFixtures(outDir: string): void;
}

export const FIXTURE_NAMES = ['llama-q4f16', 'qwen2-q4f32', 'llama-q0f32'];

// A plain .mjs script outside the TypeScript project: imported by URL, typed by the interface above.
const GENERATOR_URL = new URL('../../../scripts/gen-fixtures.mjs', import.meta.url).href;

export async function fixtureGenerator(): Promise<FixtureGenerator> {
  return (await import(/* @vite-ignore */ GENERATOR_URL)) as FixtureGenerator;
}

/** Replacement bytes, an error status, or an HTML page with status 200 (a single-page app's fallback). */
export type Override = Uint8Array | { status: number } | { html: string } | undefined;

export interface TestServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  /** Paths requested so far, in order (e.g. '/llama-q4f16/params_shard_0.bin'). */
  requests: string[];
  /** Per-path replacements; undefined serves the file. */
  respond: (path: string) => Override;
  close(): Promise<void>;
}

export async function startFileServer(root: string): Promise<TestServer> {
  const state: TestServer = { url: '', requests: [], respond: () => undefined, close: async () => {} };
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    state.requests.push(path);
    const override = state.respond(path);
    if (override && 'status' in override) {
      res.writeHead(override.status).end();
      return;
    }
    if (override && 'html' in override) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(override.html);
      return;
    }
    try {
      // path starts with '/': normalize resolves any '..' against it, so reads stay under root.
      const body = override ?? (await readFile(join(root, normalize(path))));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.byteLength }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}/`;
  state.close = () => new Promise((resolve) => server.close(() => resolve()));
  return state;
}
