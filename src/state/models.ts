// The models bundled in public/, so the app runs with no network at all: the trained demo model
// (public/models/kvchat-demo, committed) first, as the default, then the generated test fixtures
// (public/fixtures, written by `npm run fixtures`).
export const FIXTURE_MODELS = ['kvchat-demo', 'llama-q4f16', 'qwen2-q4f32', 'llama-q0f32'] as const;

export type FixtureModel = (typeof FIXTURE_MODELS)[number];

/** The model's base URL, resolved against the page (e.g. http://localhost:4173/models/kvchat-demo/). */
export function fixtureUrl(name: FixtureModel, pageUrl: string): string {
  const folder = name === 'kvchat-demo' ? 'models' : 'fixtures';
  return new URL(`${folder}/${name}/`, pageUrl).href;
}
