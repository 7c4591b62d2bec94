-- Each running herald process beats here every few seconds under its lease owner name.
-- Leases of a process whose beat has gone stale (it was killed) are released at once,
-- instead of after the full lease.
CREATE TABLE instances (
    owner        text PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL
);
