-- Credential throttling (issue 15): failed logins per username, per client address and per
-- SFTP import code, and the lockouts they caused. Kept in the database so that every node of
-- a cluster sees the same counts. Times are Unix seconds.
-- Keep in step with the other backend's 0009_auth_throttle.sql.
CREATE TABLE auth_throttle (
    scope        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    lockouts     BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    PRIMARY KEY (scope, subject)
);
