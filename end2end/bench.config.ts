import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// The benchmarks: same servers and browser as the tests, their own folder, no time limit worth the
// name. BENCH names the one to run: `uploads` (bench/uploads.bench.ts, scripts/bench-uploads, the
// default), `large` (bench/large.bench.ts, scripts/bench-large), `page-weight` (scripts/page-weight)
// or `profile` (bench/profile.bench.ts, scripts/profile-dropzone).
const BENCH = process.env.BENCH ?? 'uploads';

export default defineConfig({
  ...base,
  testDir: './bench',
  testMatch: `**/${BENCH}.bench.ts`,
  timeout: 600_000,
  globalSetup: undefined,
});
