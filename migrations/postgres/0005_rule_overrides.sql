-- Per-organization severity overrides of validation rules (`izport org rule CODE RULE SEVERITY`):
-- a strict or a lenient registry is configuration, not code.
-- Keep in step with migrations/sqlite/0005_rule_overrides.sql.
CREATE TABLE rule_overrides (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    rule_id          TEXT NOT NULL,
    level            TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (organization_id, rule_id)
);
