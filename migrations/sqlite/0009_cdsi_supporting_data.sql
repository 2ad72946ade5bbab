-- CDC's CDSi supporting data imported with `izport cdsi import DIR` (CDC's XML), kept as
-- izport's compact text with its release; when present, servers forecast with it from their next
-- start instead of the data built into the binary. At most one row.
-- Keep in step with migrations/postgres/0009_cdsi_supporting_data.sql.
CREATE TABLE cdsi_supporting_data (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    version      TEXT NOT NULL,
    compact      TEXT NOT NULL,
    imported_at  TEXT NOT NULL
);
