-- What several servers on one database must agree on lives in the database, not in one process.

-- The per-user ticket allowance: one conditional UPDATE counts and admits, so the limit is exact
-- however many requests (and servers) race for it.
ALTER TABLE users ADD COLUMN ticket_window_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN ticket_window_count BIGINT NOT NULL DEFAULT 0;

-- Failed sign-ins per account and per address; the reconciler deletes those older than the window.
CREATE TABLE sign_in_failures (
    key TEXT NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, at);

-- The one-time link that makes the first administrator: claimed by exactly one sign-up.
CREATE TABLE admin_invite (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    token      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- Objects the sweep has dealt with: a cancelled upload's object (sent with a ticket that still
-- worked) deleted, and objects found without a row recorded (`found_at`, when the sweep found them).
ALTER TABLE uploads ADD COLUMN swept_at BIGINT;
ALTER TABLE uploads ADD COLUMN found_at BIGINT;
CREATE INDEX uploads_cancelled_unswept ON uploads (expires_at) WHERE status = 'cancelled' AND swept_at IS NULL;
