-- The durable event log of the PostgreSQL store (oa-jobs): every event of every process that
-- uses the database, in one global order. Events that describe a stored change are written in
-- the same transaction as the change.
--
-- `seq` is the global order, from an identity sequence of its own (no cache: values are handed
-- out in the order the inserts ask for them, whatever the session). Numbers are never reused,
-- but they are given at insert time and transactions commit in another order: a reader may see
-- 11 before 10 commits, and a rolled-back insert leaves a hole for good. Readers therefore only
-- return a contiguous prefix, and skip a hole once the event after it was logged longer ago
-- than a settle time (see the store's `read_after`); `logged_at` is the server's clock when
-- the row was inserted, for that rule.
--
-- `timestamp` is the event's own time (set by the engine when it creates the event, just before
-- it is logged), in BIGINT nanoseconds since the Unix epoch as every time of the store, so it
-- reads back exactly; age retention trims by it. `data` is the event's JSON object as TEXT
-- (written and read as is: no parsing on the hot path, and any string serde_json writes fits).

CREATE TABLE events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME events_seq CACHE 1)
               PRIMARY KEY,
    id         UUID             NOT NULL,
    event_type TEXT COLLATE "C" NOT NULL,
    timestamp  BIGINT           NOT NULL,
    job_id     TEXT COLLATE "C",
    worker_id  TEXT COLLATE "C",
    data       TEXT             NOT NULL,
    logged_at  TIMESTAMPTZ      NOT NULL DEFAULT clock_timestamp()
);

-- Trimming by age walks the oldest events by time, never the whole log. (The only index
-- besides the key: each one costs every logged change a page write.)
CREATE INDEX events_timestamp ON events (timestamp);
