-- Query audit: who looked at which record. One row per patient a query returned (a Z32 or a
-- Z31 candidate); the message log holds the query and the exact response.
-- Keep in step with migrations/postgres/0004_query_audit.sql.
CREATE TABLE query_audit (
    id               INTEGER PRIMARY KEY,
    message_id       BIGINT NOT NULL REFERENCES message_log(id),
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    user_id          BIGINT NOT NULL REFERENCES users(id),
    patient_id       BIGINT NOT NULL REFERENCES patients(id),
    returned         TEXT NOT NULL,
    queried_at       TEXT NOT NULL
);
CREATE INDEX query_audit_patient ON query_audit (patient_id, id);
