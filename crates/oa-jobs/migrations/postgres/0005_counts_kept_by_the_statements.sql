-- Status changes counted by the store's statements (oa-jobs), not by a row trigger.
--
-- The trigger `jobs_count_update` ran a PL/pgSQL function for every job whose status changed:
-- two upserts of `job_counts` per job and per change, so a claim of ten jobs made twenty. Each
-- statement of the store that changes statuses (claims, updates, batches of updates, ends of
-- attempts) now adds its changes up itself, in a data-modifying `WITH` of the same statement:
-- one upsert per status per statement, in the same transaction as the change (measured on
-- batches of ten: 4,200 statements/s with the trigger, 5,000 to 5,350 counted in the
-- statement). Inserts and deletes are still counted by their statement-level triggers.
--
-- A database migrated to this version is refused by older versions of the store (their list
-- of migrations lacks this one), so no process of the fleet is left changing statuses without
-- counting them: upgrade every process together. A status changed by hand with another tool is
-- not counted; recount with
--   BEGIN; DELETE FROM job_counts;
--   INSERT INTO job_counts (status, slot, count) SELECT s, 0, (SELECT count(*) FROM jobs WHERE status = s)
--   FROM unnest(ARRAY['created','queued','running','paused','completed','failed','cancelled']) AS s;
--   COMMIT;
-- (docs/operations.md).

DROP TRIGGER jobs_count_update ON jobs;
DROP FUNCTION oa_jobs_count_moved();

-- The wake-up hint the trigger sent when a job became queued by an update (a retry, a resume,
-- a release): now a trigger of its own, whose condition is checked without calling a function,
-- so that claims and completions do not call one at all.
CREATE FUNCTION oa_jobs_notify_claimable() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_notify('oa_jobs_claimable', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_became_queued AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status IS DISTINCT FROM 'queued')
    EXECUTE FUNCTION oa_jobs_notify_claimable();
