-- Nothing to do on SQLite: PostgreSQL's 0016 (migrations/postgres/0016_maintenance_notify.sql)
-- adds the triggers that NOTIFY every node of a maintenance change; SQLite has no NOTIFY, and a
-- SQLite server re-reads the windows every --maintenance-poll-ms. This file keeps the two
-- backends' migrations numbered alike.
SELECT 1;
