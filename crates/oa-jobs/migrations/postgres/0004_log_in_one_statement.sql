-- Changes that log their events in one statement (oa-jobs). A change with events used to be
-- four round trips (BEGIN, the change, the events, COMMIT); the store now writes the change
-- and its events in one statement, a transaction of its own. These functions are what those
-- statements need from the server.
--
-- The events of a claim are built here, from the claimed rows, because the claimed jobs are
-- only known inside the statement. The SQL functions are STABLE, as the functions they call
-- (`to_char`, `jsonb_build_object`), so that the planner inlines them: declared IMMUTABLE,
-- each call went through the SQL-function executor, about 80 µs instead of 7 µs. They must equal what the engine builds (`Job::event_data`
-- in Rust, key for key and value for value): a test of the store compares the two.

-- A time of the store (BIGINT nanoseconds since the Unix epoch) as the events write it:
-- RFC 3339 in UTC with microseconds, `2026-11-28T12:00:00.000000Z` (truncated, never rounded;
-- the store holds the years 1677 to 2262 only, always four digits).
CREATE FUNCTION oa_jobs_rfc3339(ns BIGINT) RETURNS TEXT
LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN to_char(
           to_timestamp(((ns - mod(mod(ns, 1000000000) + 1000000000, 1000000000))
                         / 1000000000)::double precision) AT TIME ZONE 'UTC',
           'YYYY-MM-DD"T"HH24:MI:SS')
       || '.' || lpad((mod(mod(ns, 1000000000) + 1000000000, 1000000000) / 1000)::text, 6, '0')
       || 'Z';

-- A stored priority rank (0 to 3) as its wire name.
CREATE FUNCTION oa_jobs_priority(rank SMALLINT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (ARRAY['low', 'medium', 'high', 'critical'])[rank + 1];

-- The data of `worker.claimed_job`.
CREATE FUNCTION oa_jobs_claimed_data(name TEXT, priority SMALLINT, attempt BIGINT) RETURNS TEXT
LANGUAGE sql STABLE PARALLEL SAFE
RETURN jsonb_build_object('attempt', attempt, 'name', name,
                          'priority', oa_jobs_priority(priority))::text;

-- The data of `job.started` for a job as a claim stores it: status `running`, progress 0
-- (written `0.0`, as the engine writes a float), `error` and `result` only when the job has
-- them (a retried job keeps the error of its last attempt).
CREATE FUNCTION oa_jobs_started_data(
    name TEXT, priority SMALLINT, tags JSONB, max_retries BIGINT, attempt BIGINT,
    result JSONB, error JSONB, created_at BIGINT, queued_at BIGINT, started_at BIGINT,
    finished_at BIGINT
) RETURNS TEXT
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (jsonb_build_object(
            'attempt', attempt,
            'created_at', oa_jobs_rfc3339(created_at),
            'finished_at', oa_jobs_rfc3339(finished_at),
            'max_retries', max_retries,
            'name', name,
            'priority', oa_jobs_priority(priority),
            'progress', 0.0,
            'queued_at', oa_jobs_rfc3339(queued_at),
            'started_at', oa_jobs_rfc3339(started_at),
            'status', 'running'::text,
            'tags', tags)
        || CASE WHEN error IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('error', jsonb_build_object(
                         'kind', error -> 'kind', 'message', error -> 'message')) END
        || CASE WHEN result IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('result', result) END)::text;

-- Ends a batch update with its events: returns `changed` when every one of the `expected`
-- updates applied, and otherwise aborts the statement (SQLSTATE OA001), so that none of the
-- batch and none of its events are written; the store then applies the updates one by one.
CREATE FUNCTION oa_jobs_all_applied(expected BIGINT, changed BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF changed IS DISTINCT FROM expected THEN
        RAISE EXCEPTION USING ERRCODE = 'OA001',
            MESSAGE = format('%s of %s updates applied', changed, expected);
    END IF;
    RETURN changed;
END;
$$;
