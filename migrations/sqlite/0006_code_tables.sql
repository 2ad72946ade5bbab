-- Code tables imported from CDC's published files (`izport codes import DIR`), in the project's
-- own TSV format; when present they replace the built-in tables at start-up.
-- Keep in step with migrations/postgres/0006_code_tables.sql.
CREATE TABLE code_tables (
    name         TEXT PRIMARY KEY,
    content      TEXT NOT NULL,
    imported_at  TEXT NOT NULL
);
