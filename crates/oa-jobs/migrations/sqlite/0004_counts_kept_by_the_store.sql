-- The counts by status (`job_counts`) are no longer kept by triggers of the schema, but by the
-- store's own connections, still in the transaction of each change:
--
-- - the connection that makes the hot writes on the calling task (claims, inserts, updates)
--   adds up a transaction's changes and applies them to `job_counts` in one statement before it
--   commits, instead of two row updates per changed job;
-- - the store's sqlx writer connection creates the same three triggers as TEMP triggers when it
--   connects (sql.rs, COUNTING_TRIGGERS), for every other write.
--
-- A row trigger cost a third of SQLite's work per job with this schema (86,000 jobs/s with the
-- triggers, 120,000 without, claims of 512). Every process that writes the file runs the store,
-- and a file migrated to this version is refused by older versions, so no writer is left
-- without counting. (A hand-made write with another tool does not count: recount with
-- `UPDATE job_counts SET count = (SELECT count(*) FROM jobs WHERE jobs.status = job_counts.status)`.)

DROP TRIGGER jobs_count_insert;
DROP TRIGGER jobs_count_delete;
DROP TRIGGER jobs_count_update;
