import { defineConfig } from '@playwright/test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// The app under test: the release server on its own port and a fresh SQLite database, against the
// local Garage whose settings scripts/test exported (bucket s3drop-test).
const PORT = Number(process.env.E2E_PORT ?? 3100);
const BASE = `http://127.0.0.1:${PORT}`;
// A second server for large files (tests/large.spec.ts, bench/large.bench.ts): its own origin and
// database, the same bucket. Specs reach it with `test.use({ baseURL: process.env.E2E_LARGE_URL })`.
const LARGE_PORT = Number(process.env.E2E_LARGE_PORT ?? 3101);
process.env.E2E_LARGE_URL = `http://127.0.0.1:${LARGE_PORT}`;
// One database for the run: workers inherit the folder through the environment.
const dbDir = process.env.E2E_DB_DIR ?? (process.env.E2E_DB_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 's3drop-e2e-')));
process.env.E2E_DATABASE_URL = `sqlite://${dbDir}/e2e.db?mode=rwc`;
process.env.E2E_LARGE_DATABASE_URL = `sqlite://${dbDir}/e2e-large.db?mode=rwc`;
// What the browser tests run under: small enough to test the limits, large enough to cancel.
process.env.E2E_MAX_BYTES = String(10 * 1024 * 1024);

/** The release server on `port`; `env` on top of what every test server shares. */
function server(port: number, env: Record<string, string>) {
  const url = `http://127.0.0.1:${port}`;
  return {
    command: 'target/release/server serve',
    cwd: '..',
    url: `${url}/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe' as const,
    env: {
      ...process.env as Record<string, string>,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: 'target/site',
      LEPTOS_ENV: 'PROD',
      APP_PUBLIC_URL: url,
      // Each server merges a CORS rule for its own origin into the bucket's rules; Playwright
      // starts the servers one after the other, so neither overwrites the other's.
      S3_APPLY_CORS_ON_START: 'true',
      // Every test signs up its own accounts, all from 127.0.0.1.
      SIGNUP_PER_ADDRESS: '100000',
      ...env,
    },
  };
}

export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.ts',
  timeout: 60_000,
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: BASE,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run',
      ],
    },
  },
  webServer: [
    server(PORT, {
      DATABASE_URL: process.env.E2E_DATABASE_URL!,
      UPLOAD_METHOD: 'post',
      UPLOAD_MAX_BYTES: process.env.E2E_MAX_BYTES!,
      UPLOAD_ALLOWED_TYPES: 'text/plain,image/*,application/octet-stream',
    }),
    // Large files: multipart from 16 MiB, 4 parts at a time; smaller files by presigned PUT.
    server(LARGE_PORT, {
      DATABASE_URL: process.env.E2E_LARGE_DATABASE_URL!,
      UPLOAD_METHOD: 'put',
      UPLOAD_MAX_BYTES: '4GiB',
      UPLOAD_MULTIPART_THRESHOLD: '16MiB',
      UPLOAD_PART_CONCURRENCY: '4',
      UPLOAD_ALLOWED_TYPES: '*',
    }),
  ],
});
