-- Maintenance windows and drills. Keep in step with migrations/postgres/0002_maintenance.sql.
-- A window is in force from starts_at until ends_at (NULL: until stopped). `izport maintenance
-- stop` moves ends_at to the moment it was stopped, so past windows read as the real downtime
-- log; planned_ends_at keeps what was announced. Times are RFC 3339 UTC text.
CREATE TABLE maintenance_windows (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL,
    mode               TEXT NOT NULL,
    starts_at          TEXT NOT NULL,
    ends_at            TEXT,
    planned_ends_at    TEXT,
    time_zone          TEXT NOT NULL,
    reason             TEXT NOT NULL,
    organization_code  TEXT,
    refuse_percent     BIGINT NOT NULL DEFAULT 100,
    created_at         TEXT NOT NULL,
    cancelled_at       TEXT
);
CREATE INDEX maintenance_windows_ends ON maintenance_windows (ends_at);
