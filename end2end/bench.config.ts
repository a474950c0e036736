import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// The upload benchmark: same server and browser as the tests, its own folder, no time limit worth
// the name. Run through scripts/bench-uploads.
export default defineConfig({ ...base, testDir: './bench', testMatch: '**/*.bench.ts', timeout: 600_000, globalSetup: undefined });
