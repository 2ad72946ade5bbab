-- The file door: data exchange accounts, the four folders' files and their contents, and the
-- runs that process batch files. Keep in step with migrations/postgres/0008_file_door.sql (the
-- two differ only in identity and binary columns).

-- One data exchange account per organization; its username is the organization's import code.
-- Messages from files are logged under a users row made for the account (password '!', which
-- never verifies, so it cannot be used on the web service).
CREATE TABLE exchange_accounts (
    organization_id  BIGINT PRIMARY KEY REFERENCES organizations(id),
    import_code      TEXT NOT NULL UNIQUE,
    user_id          BIGINT NOT NULL REFERENCES users(id),
    password_hash    TEXT NOT NULL,
    -- all: one ACK per message; errors: only AE/AR acknowledgements
    ack_mode         TEXT NOT NULL DEFAULT 'all',
    -- 1: a file whose BTS/FTS counts do not match is rejected instead of processed
    strict_counts    BIGINT NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE exchange_keys (
    id               INTEGER PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    public_key       TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    comment          TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (organization_id, fingerprint)
);

-- The SFTP host key, shared by every node so that clients see one fingerprint.
CREATE TABLE sftp_host_keys (
    id           BIGINT PRIMARY KEY,
    private_key  TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

-- File contents, in chunks of 1 MiB.
CREATE TABLE blobs (
    id            INTEGER PRIMARY KEY,
    size          BIGINT NOT NULL,
    content_hash  TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE TABLE blob_chunks (
    blob_id  BIGINT NOT NULL REFERENCES blobs(id),
    seq      BIGINT NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (blob_id, seq)
);

-- The files in an account's folders (dropoff, accepted, reports, receive). name_key is the
-- lower-case name: names are unique in a folder regardless of case.
CREATE TABLE files (
    id               INTEGER PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    folder           TEXT NOT NULL,
    name             TEXT NOT NULL,
    name_key         TEXT NOT NULL,
    blob_id          BIGINT NOT NULL REFERENCES blobs(id),
    size             BIGINT NOT NULL,
    content_hash     TEXT NOT NULL,
    -- when the upload completed (CLOSE, or RENAME to a final name), or the file was written
    received_at      TEXT NOT NULL,
    modified_at      TEXT NOT NULL,
    -- drop-off files: the earliest pickup (a quiet period after the last change); NULL for
    -- temporary names, which are never picked up
    ready_at         TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (organization_id, folder, name_key)
);
CREATE INDEX files_ready ON files (folder, ready_at);

-- A write handle open on a drop-off name, on some node, until the lease runs out.
CREATE TABLE upload_locks (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    name_key         TEXT NOT NULL,
    owner            TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    PRIMARY KEY (organization_id, name_key)
);

-- One processing run of an accepted file.
CREATE TABLE batches (
    id               INTEGER PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    file_id          BIGINT NOT NULL REFERENCES files(id),
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
CREATE INDEX batches_state ON batches (state, lease_until);
CREATE INDEX batches_content ON batches (organization_id, content_hash);

-- Each message of a run (its position in the file, and where it starts), committed with the
-- registry's work on it; a resumed run skips what is here.
CREATE TABLE batch_messages (
    batch_id    BIGINT NOT NULL REFERENCES batches(id),
    idx         BIGINT NOT NULL,
    byte_offset BIGINT NOT NULL,
    control_id  TEXT,
    ack_code    TEXT NOT NULL,
    message_id  BIGINT REFERENCES message_log(id),
    response    TEXT NOT NULL,
    PRIMARY KEY (batch_id, idx)
);
