-- Mutual TLS (issue 15): client certificates bound to an organization (`izport org cert`).
-- A request that comes with a bound certificate must carry that organization's SOAP
-- credentials. A certificate is bound to one organization at most; it is named by the SHA-256
-- of its DER encoding, in lowercase hex.
-- Keep in step with the other backend's 0015_org_client_certs.sql.
CREATE TABLE org_client_certs (
    id               INTEGER PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    fingerprint      TEXT NOT NULL UNIQUE,
    certificate_pem  TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX org_client_certs_org ON org_client_certs (organization_id);
