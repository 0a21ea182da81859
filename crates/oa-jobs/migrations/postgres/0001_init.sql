-- The schema of the PostgreSQL store (oa-jobs). Embedded in the binary and applied on open, in
-- the first schema of the connection's `search_path`.
--
-- Timestamps are BIGINT nanoseconds since the Unix epoch (UTC), as in the SQLite store: the
-- engine's clock has nanoseconds, and TIMESTAMPTZ keeps only microseconds, so a job would not
-- read back equal to what was written (`to_timestamp(created_at / 1e9)` shows one). JSON values
-- are JSONB. Identifiers and names use the "C" collation: listings and claims order them by
-- bytes, as the other stores do, whatever the database's locale.

CREATE TABLE jobs (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name             TEXT COLLATE "C" NOT NULL,
    description      TEXT,
    payload          JSONB            NOT NULL,
    status           TEXT COLLATE "C" NOT NULL CHECK (status IN ('created', 'queued', 'running',
                                                        'paused', 'completed', 'failed',
                                                        'cancelled')),
    priority         SMALLINT         NOT NULL CHECK (priority BETWEEN 0 AND 3),
    tags             JSONB            NOT NULL,
    metadata         JSONB            NOT NULL,
    max_retries      BIGINT           NOT NULL,
    retry_policy     JSONB            NOT NULL,
    timeout_ns       BIGINT,
    progress         DOUBLE PRECISION NOT NULL,
    attempt          BIGINT           NOT NULL,
    result           JSONB,
    error            JSONB,
    worker_id        TEXT COLLATE "C",
    created_at       BIGINT           NOT NULL,
    queued_at        BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    updated_at       BIGINT           NOT NULL,
    lease_expires_at BIGINT,
    -- When a queued job becomes claimable (a queued job without `queued_at` is claimable from
    -- its creation, as in the memory store).
    ready_at         BIGINT GENERATED ALWAYS AS (coalesce(queued_at, created_at)) STORED
) WITH (fillfactor = 80);
-- The free space left in each page lets updates that touch no indexed column (heartbeats,
-- progress) write the new row version in the same page (HOT updates, no index writes).

-- Every index is written by the claims, inserts and completions on the hot path, so there are
-- few, and they are partial: they hold only the jobs the hot path looks for.
--
-- Claims: the queued jobs of one name in claim order (highest priority, oldest, then id).
CREATE INDEX jobs_ready ON jobs (name, priority DESC, ready_at, id) WHERE status = 'queued';
-- The jobs each worker holds (heartbeats, lost workers, expired leases). Leases are not in the
-- index, so that renewing them is a HOT update.
CREATE INDEX jobs_held ON jobs (worker_id) WHERE worker_id IS NOT NULL;
-- Final jobs by finish time (purging).
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- How many jobs are in each status, kept by the triggers below, so that counting reads a few
-- rows instead of the jobs. Each database session adds its changes to rows of its own (`slot`
-- is its backend's process id), so concurrent transactions never wait for each other on a
-- counter row (a single row per status would serialize every commit, and rows shared by
-- sessions could deadlock when two transactions change statuses in different orders). The
-- store folds the rows of past sessions into slot 0 when they pile up.
CREATE TABLE job_counts (
    status TEXT COLLATE "C" NOT NULL,
    slot   INTEGER          NOT NULL,
    count  BIGINT           NOT NULL,
    PRIMARY KEY (status, slot)
);

INSERT INTO job_counts (status, slot, count) VALUES
    ('created', 0, 0), ('queued', 0, 0), ('running', 0, 0), ('paused', 0, 0),
    ('completed', 0, 0), ('failed', 0, 0), ('cancelled', 0, 0);

-- Idle workers in every process listen on the channel `oa_jobs_claimable`: the triggers that
-- see a job become queued (inserted queued, retried, resumed, released) notify it, so that the
-- workers claim at once instead of at their next poll. The notification is only a hint: its
-- payload is empty (never a job), so PostgreSQL folds those of one transaction into one, and a
-- lost one delays a claim by at most the workers' poll interval.

-- The functions run with the `search_path` of the migration, so that they find the store's
-- tables whatever the path of the session whose statement fires them.
--
-- Inserts and deletes are counted once per statement (a batch of jobs is one upsert per status).
CREATE FUNCTION oa_jobs_count_inserted() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO job_counts (status, slot, count)
    SELECT status, pg_backend_pid(), count(*) FROM new_rows GROUP BY status
    ON CONFLICT (status, slot) DO UPDATE SET count = job_counts.count + EXCLUDED.count;
    IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'queued') THEN
        PERFORM pg_notify('oa_jobs_claimable', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION oa_jobs_count_deleted() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO job_counts (status, slot, count)
    SELECT status, pg_backend_pid(), -count(*) FROM old_rows GROUP BY status
    ON CONFLICT (status, slot) DO UPDATE SET count = job_counts.count + EXCLUDED.count;
    RETURN NULL;
END;
$$;

-- A change of status is counted per row, and only when the status changes (heartbeats and
-- progress reports do not call the function at all).
CREATE FUNCTION oa_jobs_count_moved() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO job_counts (status, slot, count)
    VALUES (OLD.status, pg_backend_pid(), -1), (NEW.status, pg_backend_pid(), 1)
    ON CONFLICT (status, slot) DO UPDATE SET count = job_counts.count + EXCLUDED.count;
    IF NEW.status = 'queued' THEN
        PERFORM pg_notify('oa_jobs_claimable', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION oa_jobs_count_inserted();

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION oa_jobs_count_deleted();

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION oa_jobs_count_moved();

CREATE TABLE workers (
    id                    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    host                  TEXT             NOT NULL,
    pid                   BIGINT           NOT NULL,
    tags                  JSONB            NOT NULL,
    job_names             JSONB            NOT NULL,
    max_concurrent_jobs   BIGINT           NOT NULL,
    heartbeat_interval_ms BIGINT           NOT NULL,
    state                 TEXT COLLATE "C" NOT NULL CHECK (state IN ('online', 'offline')),
    registered_at         BIGINT           NOT NULL,
    last_heartbeat_at     BIGINT           NOT NULL,
    offline_at            BIGINT,
    offline_reason        TEXT
);
