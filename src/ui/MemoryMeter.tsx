import type { ReactNode } from 'react';
import type { EngineStats, LayerKvBytes } from '../engine/api';
import { useChat } from '../state/store';
import { formatBytes } from './formatBytes';

/** One layer's bytes (used and allocated, by kind), tokens kept, and token budget (Infinity without eviction). */
type LayerStats = EngineStats['kvLayers'][number];

const BYTE_KINDS: { key: keyof LayerKvBytes; label: string; colour: string }[] = [
  { key: 'codes', label: 'codes', colour: '#0f766e' },
  { key: 'scales', label: 'scales/mins', colour: '#f59e0b' },
  { key: 'fullPrecision', label: 'fp16', colour: '#6366f1' },
  { key: 'metadata', label: 'metadata', colour: '#94a3b8' },
];

const CHART_WIDTH = 320;
const CHART_HEIGHT = 96;

const sum = (bytes: LayerKvBytes) => bytes.codes + bytes.scales + bytes.fullPrecision + bytes.metadata;

/** Bars per layer: bytes used, stacked by kind, over the bytes allocated (pale). */
function LayerBytesChart({ layers }: { layers: LayerStats[] }) {
  const scale = Math.max(1, ...layers.map((l) => sum(l.allocated)));
  const slot = CHART_WIDTH / layers.length;
  const barWidth = Math.max(1, slot * 0.7);
  const totalUsed = layers.reduce((n, l) => n + sum(l.used), 0);
  return (
    <figure className="flex flex-col gap-1">
      <figcaption className="text-xs font-medium">KV bytes per layer (used over allocated)</figcaption>
      <svg
        data-testid="layer-chart"
        viewBox={`0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`}
        className="h-24 w-full"
        role="img"
        aria-label={`KV bytes per layer: ${layers.length} layers, ${formatBytes(totalUsed)} used in all`}
        preserveAspectRatio="none"
      >
        {layers.map((layer, index) => {
          const x = index * slot + (slot - barWidth) / 2;
          const allocatedHeight = (sum(layer.allocated) / scale) * CHART_HEIGHT;
          let top = CHART_HEIGHT;
          return (
            <g key={index} data-testid="layer-bar" data-bytes={sum(layer.used)}>
              <title>
                {`Layer ${index}: ${formatBytes(sum(layer.used))} used of ${formatBytes(sum(layer.allocated))} (` +
                  BYTE_KINDS.map((kind) => `${kind.label} ${formatBytes(layer.used[kind.key])}`).join(', ') +
                  ')'}
              </title>
              <rect x={x} y={CHART_HEIGHT - allocatedHeight} width={barWidth} height={allocatedHeight} className="fill-slate-200 dark:fill-slate-700" />
              {BYTE_KINDS.map((kind) => {
                const height = (layer.used[kind.key] / scale) * CHART_HEIGHT;
                top -= height;
                return height > 0 ? <rect key={kind.key} x={x} y={top} width={barWidth} height={height} fill={kind.colour} /> : null;
              })}
            </g>
          );
        })}
      </svg>
      <ul className="flex flex-wrap gap-x-3 text-xs text-slate-600 dark:text-slate-400">
        {BYTE_KINDS.map((kind) => (
          <li key={kind.key} className="flex items-center gap-1">
            <span aria-hidden className="inline-block h-2 w-2 rounded-sm" style={{ background: kind.colour }} />
            {kind.label}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** Tokens kept per layer against its budget (when the layer has a finite one). */
function LayerTokensChart({ layers }: { layers: LayerStats[] }) {
  const budgetOf = (layer: LayerStats) => (Number.isFinite(layer.budgetTokens) ? layer.budgetTokens : undefined);
  const scale = Math.max(1, ...layers.map((l) => Math.max(l.keptTokens, budgetOf(l) ?? 0)));
  const slot = CHART_WIDTH / layers.length;
  const barWidth = Math.max(1, slot * 0.7);
  const budgeted = layers.some((l) => budgetOf(l) !== undefined);
  return (
    <figure className="flex flex-col gap-1">
      <figcaption className="text-xs font-medium">Tokens kept per layer{budgeted ? ' (line: budget)' : ''}</figcaption>
      <svg
        data-testid="layer-tokens-chart"
        viewBox={`0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`}
        className="h-24 w-full"
        role="img"
        aria-label={`Tokens kept per layer: ${layers.map((l) => l.keptTokens).join(', ')}`}
        preserveAspectRatio="none"
      >
        {layers.map((layer, index) => {
          const x = index * slot + (slot - barWidth) / 2;
          const height = (layer.keptTokens / scale) * CHART_HEIGHT;
          const budget = budgetOf(layer);
          const budgetY = budget === undefined ? undefined : CHART_HEIGHT - (budget / scale) * CHART_HEIGHT;
          return (
            <g key={index} data-testid="layer-tokens" data-kept={layer.keptTokens}>
              <title>{`Layer ${index}: ${layer.keptTokens} tokens kept${budget === undefined ? '' : ` of a budget of ${budget}`}`}</title>
              <rect x={x} y={CHART_HEIGHT - height} width={barWidth} height={height} fill="#0f766e" />
              {budgetY !== undefined && <line x1={x} x2={x + barWidth} y1={budgetY} y2={budgetY} stroke="#f59e0b" strokeWidth={2} />}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

function Row({ label, testId, children }: { label: string; testId: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-slate-600 dark:text-slate-400">{label}</dt>
      <dd data-testid={testId} className="text-right font-mono tabular-nums">
        {children}
      </dd>
    </>
  );
}

/** The memory picture of the loaded model, read only from engine.stats(). */
export function MemoryMeter() {
  const stats = useChat((s) => (s.model.phase === 'ready' ? s.model.stats : null));
  if (!stats) {
    return (
      <section aria-label="Memory" className="text-sm text-slate-500 dark:text-slate-400">
        The memory meter appears once a model is loaded.
      </section>
    );
  }
  const ratio = stats.kvBytesFp16Equivalent > 0 ? stats.kvBytesUsed / stats.kvBytesFp16Equivalent : null;
  const tokensLeft = Math.max(0, stats.kvCapacity - stats.kvTokens);
  const bytesPerToken = stats.kvTokens > 0 ? stats.kvBytesUsed / stats.kvTokens : null;
  const layers = stats.kvLayers;
  const fill = stats.kvBytesAllocated > 0 ? stats.kvBytesUsed / stats.kvBytesAllocated : 0;

  return (
    <section data-testid="memory-meter" aria-label="Memory" className="flex flex-col gap-3 text-sm">
      <h2 className="text-sm font-semibold">Memory</h2>
      <div>
        <div className="mb-1 flex justify-between text-xs text-slate-600 dark:text-slate-400">
          <span>KV cache</span>
          <span>
            {formatBytes(stats.kvBytesUsed)} of {formatBytes(stats.kvBytesAllocated)} allocated
          </span>
        </div>
        <meter
          aria-label="KV cache bytes used of allocated"
          min={0}
          max={1}
          value={fill}
          className="h-2 w-full"
        />
      </div>
      <dl className="grid grid-cols-[1fr_auto] gap-x-3 gap-y-1">
        <Row label="KV bytes used" testId="kv-bytes-used">
          {formatBytes(stats.kvBytesUsed)}
        </Row>
        <Row label="Same tokens in fp16" testId="kv-bytes-fp16">
          {formatBytes(stats.kvBytesFp16Equivalent)}
        </Row>
        <Row label="Ratio (used / fp16)" testId="kv-ratio">
          <span data-ratio={ratio ?? ''}>{ratio === null ? '—' : ratio < 1 ? `${ratio.toFixed(3)} (${(1 / ratio).toFixed(1)}× smaller)` : `${ratio.toFixed(3)} (uncompressed)`}</span>
        </Row>
        <Row label="Weights" testId="weight-bytes">
          {formatBytes(stats.weightBytes)}
        </Row>
        <Row label="Tokens kept / capacity" testId="kv-tokens">
          {stats.kvTokens} / {stats.kvCapacity}
        </Row>
        <Row label="Tokens that still fit" testId="kv-tokens-left">
          {tokensLeft}
          {bytesPerToken !== null && <span className="text-slate-500"> · {formatBytes(Math.round(bytesPerToken))}/token</span>}
        </Row>
        <Row label="KV settings" testId="kv-settings-in-effect">
          {stats.kvSettings.keyBits === 16 ? 'fp16' : `K${stats.kvSettings.keyBits} V${stats.kvSettings.valueBits} G${stats.kvSettings.groupSize} R${stats.kvSettings.residualLength}`}
          {stats.kvSettings.policy !== 'none' && ` · ${stats.kvSettings.policy}`}
        </Row>
      </dl>
      {layers.length > 0 && <LayerBytesChart layers={layers} />}
      {layers.length > 0 && <LayerTokensChart layers={layers} />}
      <p className="text-xs text-slate-500 dark:text-slate-400">{stats.adapter}</p>
    </section>
  );
}
