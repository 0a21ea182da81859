-- The durable event log of the SQLite store (oa-jobs): every event of every process that uses
-- the database, in one global order. Events that describe a stored change are written in the
-- same transaction as the change.
--
-- `seq` is the global order. AUTOINCREMENT makes SQLite never reuse a number, even after the
-- oldest events were trimmed (the newest number ever given is kept in `sqlite_sequence`).
-- SQLite has one writer at a time, so numbers are given in commit order.
--
-- `timestamp` is the event's own time (set by the engine when it creates the event, just before
-- it is logged), in INTEGER nanoseconds since the Unix epoch as every time of the store; age
-- retention trims by it. `data` is the event's JSON object as TEXT, `id` its UUID as TEXT.

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL,
    event_type TEXT    NOT NULL,
    timestamp  INTEGER NOT NULL,
    job_id     TEXT,
    worker_id  TEXT,
    data       TEXT    NOT NULL
);

-- Trimming by age walks the oldest events by time, never the whole log. (The only index: each
-- one costs every logged change a page write.)
CREATE INDEX events_timestamp ON events (timestamp);
