-- Large files: a multipart upload's S3 id and shape live on its row, so confirming, cancelling,
-- the reconciler and a resumed upload (the same file dropped again after a reload) can find it.
ALTER TABLE uploads ADD COLUMN multipart_upload_id TEXT;
ALTER TABLE uploads ADD COLUMN part_size BIGINT;
ALTER TABLE uploads ADD COLUMN part_count BIGINT;
-- `<File.lastModified>:<base64 SHA-256 of the first part>`: with the name and size, what tells
-- the same file from another one.
ALTER TABLE uploads ADD COLUMN fingerprint TEXT;
CREATE INDEX uploads_resumable ON uploads (owner_id, fingerprint) WHERE status = 'pending' AND fingerprint IS NOT NULL;
