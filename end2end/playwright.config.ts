import { defineConfig } from '@playwright/test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// The app under test: the release server on its own port and a fresh SQLite database, against the
// local Garage whose settings scripts/test exported (bucket s3drop-test).
const PORT = Number(process.env.E2E_PORT ?? 3100);
const BASE = `http://127.0.0.1:${PORT}`;
// One database for the run: workers inherit the folder through the environment.
const dbDir = process.env.E2E_DB_DIR ?? (process.env.E2E_DB_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 's3drop-e2e-')));
process.env.E2E_DATABASE_URL = `sqlite://${dbDir}/e2e.db?mode=rwc`;
// What the browser tests run under: small enough to test the limits, large enough to cancel.
process.env.E2E_MAX_BYTES = String(10 * 1024 * 1024);

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
  webServer: {
    command: 'target/release/server serve',
    cwd: '..',
    url: `${BASE}/health`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    env: {
      ...process.env as Record<string, string>,
      LEPTOS_SITE_ADDR: `127.0.0.1:${PORT}`,
      LEPTOS_SITE_ROOT: 'target/site',
      LEPTOS_ENV: 'PROD',
      APP_PUBLIC_URL: BASE,
      DATABASE_URL: process.env.E2E_DATABASE_URL!,
      S3_APPLY_CORS_ON_START: 'true',
      UPLOAD_MAX_BYTES: process.env.E2E_MAX_BYTES!,
      UPLOAD_ALLOWED_TYPES: 'text/plain,image/*,application/octet-stream',
    },
  },
});
