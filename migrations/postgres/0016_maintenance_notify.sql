-- Maintenance changes reach every node at once (issue 16, finding 8): each statement that
-- changes the maintenance windows, or the users a drill for one organization applies to, sends
-- NOTIFY on the channel izport_maintenance. A notification is delivered when the writing
-- transaction commits (never for one rolled back), and every server on PostgreSQL LISTENs on
-- the channel and re-reads the windows (src/maintenance/listener.rs); polling
-- (--maintenance-poll-ms) stays as the fallback. The payload is empty: a listener re-reads
-- everything, and PostgreSQL folds identical notifications of one transaction into one.
-- The SQLite 0016 is a comment only (SQLite has no NOTIFY; its nodes poll), so that both
-- backends keep the same numbering.
CREATE FUNCTION izport_maintenance_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('izport_maintenance', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER maintenance_windows_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON maintenance_windows
    FOR EACH STATEMENT EXECUTE FUNCTION izport_maintenance_notify();

-- A drill is recognised by its organization's usernames, which the snapshot reads too.
CREATE TRIGGER users_maintenance_notify
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF username, organization_id ON users
    FOR EACH STATEMENT EXECUTE FUNCTION izport_maintenance_notify();
