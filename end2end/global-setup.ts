import { execFileSync } from 'child_process';
import * as path from 'path';

export const ADMIN_EMAIL = 'admin@e2e.example.com';
export const ADMIN_PASSWORD = 'a long enough password';

/** The operator's way in: the admin account, created with the CLI (password on stdin). */
export default async function globalSetup() {
  const root = path.resolve(__dirname, '..');
  execFileSync(path.join(root, 'target/release/server'), ['create-user', ADMIN_EMAIL, '--admin'], {
    cwd: root,
    input: `${ADMIN_PASSWORD}\n`,
    env: { ...process.env, DATABASE_URL: process.env.E2E_DATABASE_URL!, RUST_LOG: 'error' },
    stdio: ['pipe', 'inherit', 'inherit'],
  });
}
