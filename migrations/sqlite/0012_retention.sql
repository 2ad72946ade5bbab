-- Retention: files in DQA-Reports, Receive and Accepted are removed after a time (the worker's
-- housekeeping, src/batch/retention.rs). A run outlives its accepted file, so batches.file_id
-- may now be empty (the original was removed); the sweep finds old files by folder and time, and
-- a file's runs by file. Keep in step with migrations/postgres/0012_retention.sql.
--
-- SQLite cannot drop NOT NULL from a column, so batches is rebuilt, inside the migration's
-- transaction with foreign keys on: defer_foreign_keys (which lasts to the commit) lets the old
-- table go while batch_messages still points at it; the new table takes the same rows and ids
-- before the commit, so every reference holds again when it is checked.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE batches_kept AS SELECT * FROM batches;
DROP TABLE batches;

CREATE TABLE batches (
    id               INTEGER PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    -- the accepted file; NULL once retention removed it
    file_id          BIGINT REFERENCES files(id),
    original_name    TEXT NOT NULL,
    accepted_name    TEXT NOT NULL,
    content_hash     TEXT NOT NULL,
    size             BIGINT NOT NULL,
    received_at      TEXT NOT NULL,
    claimed_at       TEXT NOT NULL,
    finished_at      TEXT,
    -- processing | done | rejected | unreadable | duplicate
    state            TEXT NOT NULL,
    reason           TEXT,
    duplicate_of     BIGINT,
    reprocess_of     BIGINT,
    operator_import  BIGINT NOT NULL DEFAULT 0,
    -- the file's structure as read before processing (JSON)
    structure        TEXT,
    total_messages   BIGINT,
    -- messages recorded so far (brought up to date as the run goes; exact at its end)
    next_message     BIGINT NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_until      TEXT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    count_aa         BIGINT NOT NULL DEFAULT 0,
    count_ae         BIGINT NOT NULL DEFAULT 0,
    count_ar         BIGINT NOT NULL DEFAULT 0
);
INSERT INTO batches (id, organization_id, file_id, original_name, accepted_name, content_hash,
    size, received_at, claimed_at, finished_at, state, reason, duplicate_of, reprocess_of,
    operator_import, structure, total_messages, next_message, lease_owner, lease_until,
    attempts, count_aa, count_ae, count_ar)
SELECT id, organization_id, file_id, original_name, accepted_name, content_hash,
    size, received_at, claimed_at, finished_at, state, reason, duplicate_of, reprocess_of,
    operator_import, structure, total_messages, next_message, lease_owner, lease_until,
    attempts, count_aa, count_ae, count_ar
FROM batches_kept;
DROP TABLE batches_kept;

CREATE INDEX batches_state ON batches (state, lease_until);
CREATE INDEX batches_content ON batches (organization_id, content_hash);
CREATE INDEX batches_file ON batches (file_id);
CREATE INDEX files_folder_received ON files (folder, received_at);
