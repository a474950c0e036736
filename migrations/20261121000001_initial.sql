-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Ids are UUID text, times are Unix
-- milliseconds (BIGINT), so both engines store and sort them alike.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    -- SHA-256 of the cookie token: a stolen database does not yield live sessions.
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE uploads (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users (id),
    object_key      TEXT NOT NULL UNIQUE,
    file_name       TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    declared_size   BIGINT NOT NULL CHECK (declared_size >= 0),
    confirmed_size  BIGINT,
    etag            TEXT,
    checksum_sha256 TEXT,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'completed', 'failed', 'expired', 'cancelled')),
    method          TEXT NOT NULL CHECK (method IN ('post', 'put', 'multipart')),
    error           TEXT,
    created_at      BIGINT NOT NULL,
    -- when the signature stops working; the reconciler looks at pending uploads past it
    expires_at      BIGINT NOT NULL,
    confirmed_at    BIGINT
);
-- A user's own list, and the admin history with its filters, all newest first with a keyset
-- tie-breaker on id.
CREATE INDEX uploads_by_owner ON uploads (owner_id, created_at DESC, id DESC);
CREATE INDEX uploads_by_time ON uploads (created_at DESC, id DESC);
CREATE INDEX uploads_by_status ON uploads (status, created_at DESC, id DESC);
CREATE INDEX uploads_by_size ON uploads (declared_size DESC, id DESC);
CREATE INDEX uploads_pending_by_expiry ON uploads (expires_at) WHERE status = 'pending';
