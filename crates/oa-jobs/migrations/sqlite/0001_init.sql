-- The schema of the SQLite store (oa-jobs). Embedded in the binary and applied on open.
--
-- Timestamps are INTEGER nanoseconds since the Unix epoch (UTC): exact round trips of
-- `DateTime<Utc>` and exact ordering. JSON values are TEXT written by serde_json.

CREATE TABLE jobs (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    description      TEXT,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('created', 'queued', 'running', 'paused',
                                                        'completed', 'failed', 'cancelled')),
    priority         INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 3),
    tags             TEXT    NOT NULL,
    metadata         TEXT    NOT NULL,
    max_retries      INTEGER NOT NULL,
    retry_policy     TEXT    NOT NULL,
    timeout_ns       INTEGER,
    progress         REAL    NOT NULL,
    attempt          INTEGER NOT NULL,
    result           TEXT,
    error            TEXT,
    worker_id        TEXT,
    created_at       INTEGER NOT NULL,
    queued_at        INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL,
    lease_expires_at INTEGER,
    -- When a queued job becomes claimable (a queued job without `queued_at` is claimable from
    -- its creation, as in the memory store).
    ready_at         INTEGER GENERATED ALWAYS AS (coalesce(queued_at, created_at)) VIRTUAL
);

-- Every index is written by the claims, inserts and completions on the hot path, so there are
-- few, and most are partial: they hold only the jobs the hot path looks for.
--
-- Claims: the queued jobs of one name in claim order (highest priority, oldest, then id). The
-- scheduled jobs are found here too (only at start-up), from the queued jobs.
CREATE INDEX jobs_ready ON jobs (name, priority DESC, ready_at, id) WHERE status = 'queued';
-- The jobs each worker holds, with their leases (heartbeats, lost workers, expired leases: the
-- whole index is the set of held jobs, small by nature).
CREATE INDEX jobs_held ON jobs (worker_id, lease_expires_at) WHERE worker_id IS NOT NULL;
-- Final jobs by finish time (purging).
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- How many jobs are in each status, kept by the triggers below so that counting reads 7 rows.
CREATE TABLE job_counts (
    status TEXT    NOT NULL PRIMARY KEY,
    count  INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO job_counts (status, count) VALUES
    ('created', 0), ('queued', 0), ('running', 0), ('paused', 0),
    ('completed', 0), ('failed', 0), ('cancelled', 0);

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
BEGIN
    UPDATE job_counts SET count = count + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
BEGIN
    UPDATE job_counts SET count = count - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs
WHEN OLD.status <> NEW.status
BEGIN
    UPDATE job_counts SET count = count - 1 WHERE status = OLD.status;
    UPDATE job_counts SET count = count + 1 WHERE status = NEW.status;
END;

CREATE TABLE workers (
    id                    TEXT    NOT NULL PRIMARY KEY,
    host                  TEXT    NOT NULL,
    pid                   INTEGER NOT NULL,
    tags                  TEXT    NOT NULL,
    job_names             TEXT    NOT NULL,
    max_concurrent_jobs   INTEGER NOT NULL,
    heartbeat_interval_ms INTEGER NOT NULL,
    state                 TEXT    NOT NULL CHECK (state IN ('online', 'offline')),
    registered_at         INTEGER NOT NULL,
    last_heartbeat_at     INTEGER NOT NULL,
    offline_at            INTEGER,
    offline_reason        TEXT
);
