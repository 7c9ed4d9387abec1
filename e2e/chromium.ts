// The Chromium that runs the e2e suite: Debian's (Playwright's own download is not used), with the
// same WebGPU-on-SwiftShader flags as the GPU unit tests (see DEVELOPERS.md).
export { chromiumArgs } from '../vitest.config';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
