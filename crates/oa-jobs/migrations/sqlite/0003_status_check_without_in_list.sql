-- The jobs table again, with the status CHECK written as a chain of comparisons instead of an
-- IN list. Same rule, same rows: only the cost changes.
--
-- SQLite evaluates `status IN (<7 values>)` by building a temporary index of the 7 values every
-- time the constraint is checked, that is for every inserted job and every status change. That
-- cost a quarter of the schema's time per job (a claim, an insert and a completion measured
-- 12.9 µs per job with the IN list, 10.0 µs with comparisons, 9.9 µs without any CHECK).
--
-- SQLite cannot change a constraint in place: the table is rebuilt (create, copy, drop,
-- rename), and its indexes and triggers are created again as 0001_init.sql made them. Runs in
-- the migrations' transaction, so another process sees the old table or the new one, never a
-- part of either. Takes time in proportion to the number of stored jobs, once.

CREATE TABLE jobs_rebuilt (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    description      TEXT,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status = 'created' OR status = 'queued'
                                             OR status = 'running' OR status = 'paused'
                                             OR status = 'completed' OR status = 'failed'
                                             OR status = 'cancelled'),
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
    ready_at         INTEGER GENERATED ALWAYS AS (coalesce(queued_at, created_at)) VIRTUAL
);

INSERT INTO jobs_rebuilt (id, name, description, payload, status, priority, tags, metadata,
                          max_retries, retry_policy, timeout_ns, progress, attempt, result, error,
                          worker_id, created_at, queued_at, started_at, finished_at, updated_at,
                          lease_expires_at)
SELECT id, name, description, payload, status, priority, tags, metadata, max_retries,
       retry_policy, timeout_ns, progress, attempt, result, error, worker_id, created_at,
       queued_at, started_at, finished_at, updated_at, lease_expires_at
FROM jobs;

-- Drops the old table's indexes and triggers with it.
DROP TABLE jobs;
ALTER TABLE jobs_rebuilt RENAME TO jobs;

CREATE INDEX jobs_ready ON jobs (name, priority DESC, ready_at, id) WHERE status = 'queued';
CREATE INDEX jobs_held ON jobs (worker_id, lease_expires_at) WHERE worker_id IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

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

-- The counts were kept by the old table's triggers; recounted from the copied rows all the same.
UPDATE job_counts SET count = (SELECT count(*) FROM jobs WHERE jobs.status = job_counts.status);
