//! The SQL statements of the PostgreSQL store.
//!
//! Every statement is a `&'static str` with `$n` parameters; sqlx prepares each once per
//! connection. Batches bind one array per column and read them with `unnest(...)`, so one
//! statement text serves every batch size.

use super::rows::{job_columns, worker_columns};

/// The largest batch one statement writes (the arrays of a batch travel in one message, and a
/// batch that fails on a duplicate id is redone by nobody: it is cut so that no message grows
/// beyond a few megabytes).
pub(super) const MAX_BATCH: usize = 2048;

/// The SQL type of each array bound to [`INSERT_JOBS`] and [`UPDATE_JOBS`], in binding order.
macro_rules! job_arrays {
    () => {
        "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int2[], $7::text[], \
         $8::text[], $9::int8[], $10::text[], $11::int8[], $12::float8[], $13::int8[], \
         $14::text[], $15::text[], $16::text[], $17::int8[], $18::int8[], $19::int8[], \
         $20::int8[], $21::int8[], $22::int8[]"
    };
}

/// The values of a job read from `u`, the JSON ones cast from text.
macro_rules! job_values_of_u {
    () => {
        "u.id, u.name, u.description, u.payload::jsonb, u.status, u.priority, u.tags::jsonb, \
         u.metadata::jsonb, u.max_retries, u.retry_policy::jsonb, u.timeout_ns, u.progress, \
         u.attempt, u.result::jsonb, u.error::jsonb, u.worker_id, u.created_at, u.queued_at, \
         u.started_at, u.finished_at, u.updated_at, u.lease_expires_at"
    };
}

/// Counts the status changes of the rows the `WITH` query `changed` returned (its columns
/// `old_status` and `status`): one upsert per status into this session's counter rows
/// (`job_counts`, slot `pg_backend_pid()`), nothing when no status changed. A part of a `WITH`
/// that follows `changed`. (Migration 0005: the statements count, not a row trigger.)
macro_rules! count_changes {
    () => {
        ", counted AS (INSERT INTO job_counts (status, slot, count) \
             SELECT m.status, pg_backend_pid(), sum(m.d) FROM changed AS c \
             CROSS JOIN LATERAL (VALUES (c.old_status, -1), (c.status, 1)) AS m(status, d) \
             WHERE c.old_status <> c.status GROUP BY m.status HAVING sum(m.d) <> 0 \
             ON CONFLICT (status, slot) DO UPDATE SET count = job_counts.count + EXCLUDED.count) "
    };
}

/// Counts the jobs the `WITH` query `claimed` returned as moved from `queued` to `running`
/// (nothing when none was claimed): [`count_changes!`] for claims, whose moves are known.
macro_rules! count_claimed {
    () => {
        ", counted AS (INSERT INTO job_counts (status, slot, count) \
             SELECT v.status, pg_backend_pid(), v.d * (SELECT count(*) FROM claimed) \
             FROM (VALUES ('queued', -1), ('running', 1)) AS v(status, d) \
             WHERE EXISTS (SELECT 1 FROM claimed) \
             ON CONFLICT (status, slot) DO UPDATE SET count = job_counts.count + EXCLUDED.count) "
    };
}

/// Inserts one job: the values as [`EncodedJob::bind`](super::rows::EncodedJob::bind) binds them.
pub(super) const INSERT_JOB: &str = concat!(
    "INSERT INTO jobs (",
    job_columns!(),
    ") VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8::jsonb, $9, $10::jsonb, $11, $12, \
     $13, $14::jsonb, $15::jsonb, $16, $17, $18, $19, $20, $21, $22)"
);

/// The text of [`INSERT_JOBS`].
macro_rules! insert_jobs {
    () => {
        concat!(
            "INSERT INTO jobs (",
            job_columns!(),
            ") SELECT ",
            job_values_of_u!(),
            " FROM unnest(",
            job_arrays!(),
            ") AS u(",
            job_columns!(),
            ")"
        )
    };
}

/// Inserts many jobs: the arrays as [`JobColumns::bind`](super::rows::JobColumns::bind) binds
/// them.
pub(super) const INSERT_JOBS: &str = insert_jobs!();

/// What an update sets, from the parameters of [`UPDATE_JOB`].
macro_rules! set_job {
    () => {
        "name = $2, description = $3, payload = $4::jsonb, status = $5, priority = $6, \
         tags = $7::jsonb, metadata = $8::jsonb, max_retries = $9, retry_policy = $10::jsonb, \
         timeout_ns = $11, progress = $12, attempt = $13, result = $14::jsonb, \
         error = $15::jsonb, worker_id = $16, created_at = $17, queued_at = $18, \
         started_at = $19, finished_at = $20, updated_at = $21, lease_expires_at = $22"
    };
}

/// The update of [`UPDATE_JOB`] as the `WITH` query `changed`, and its count.
macro_rules! update_job {
    () => {
        concat!(
            "WITH changed AS (UPDATE jobs SET ",
            set_job!(),
            " WHERE id = $1 AND status = $23 AND ($23 NOT IN ('running', 'paused') \
             OR attempt = $13) RETURNING $23::text AS old_status, status)",
            count_changes!()
        )
    };
}

/// Replaces one job if its stored status is still `$23`: the values as
/// [`EncodedJob::bind`](super::rows::EncodedJob::bind) binds them (`$1` is the id), then the
/// expected status. Returns how many jobs were written (0 or 1).
pub(super) const UPDATE_JOB: &str = concat!(update_job!(), "SELECT count(*) FROM changed");

/// Locks the jobs whose ids are in the array `$1`, in id order: the order in which a heartbeat
/// (`RENEW_LEASES`) and a lost worker's release (`LOCK_HELD`) lock a worker's jobs, so that
/// batches and heartbeats of one worker never wait for each other in a cycle. A batch's own
/// plan does not keep that order: for about 100 to 200 ids PostgreSQL reads the rows in their
/// order on disk (a bitmap heap scan), and a heartbeat racing such a batch deadlocked (test:
/// `heartbeats_and_batches_of_ends_lock_in_one_order`). Used as `jobs.id = ANY(ARRAY(...))`,
/// it runs before the update, which then changes rows this transaction already holds.
macro_rules! lock_in_id_order {
    () => {
        "SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    };
}

/// The text of [`UPDATE_JOBS`].
macro_rules! update_jobs {
    () => { concat!(
    "WITH changed AS (UPDATE jobs SET name = u.name, description = u.description, payload = u.payload::jsonb, \
     status = u.status, priority = u.priority, tags = u.tags::jsonb, \
     metadata = u.metadata::jsonb, max_retries = u.max_retries, \
     retry_policy = u.retry_policy::jsonb, timeout_ns = u.timeout_ns, progress = u.progress, \
     attempt = u.attempt, result = u.result::jsonb, error = u.error::jsonb, \
     worker_id = u.worker_id, created_at = u.created_at, queued_at = u.queued_at, \
     started_at = u.started_at, finished_at = u.finished_at, updated_at = u.updated_at, \
     lease_expires_at = u.lease_expires_at FROM unnest(",
    job_arrays!(),
    ", $23::text[]) AS u(",
    job_columns!(),
    ", expected) WHERE jobs.id = ANY(ARRAY(",
    lock_in_id_order!(),
    ")) AND jobs.id = u.id AND jobs.status = u.expected \
     AND (u.expected NOT IN ('running', 'paused') OR jobs.attempt = u.attempt) \
     RETURNING u.expected AS old_status, jobs.status)",
    count_changes!()
    ) };
}

/// Replaces many jobs, each only if its stored status is still the expected one, and returns
/// how many were written (which tells whether all were): the arrays as
/// [`JobColumns::bind_update`](super::rows::JobColumns::bind_update) binds them. The ids of one
/// statement must be distinct (a job matched twice would take one of the two at random).
pub(super) const UPDATE_JOBS: &str = concat!(update_jobs!(), "SELECT count(*) FROM changed");

/// One job by id.
pub(super) const SELECT_JOB: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");

/// The stored status of one job, locked until the end of the transaction.
pub(super) const LOCK_STATUS: &str = "SELECT status FROM jobs WHERE id = $1 FOR UPDATE";

/// The ids and statuses of the jobs among the array `$1`.
pub(super) const SELECT_STATUSES: &str = "SELECT id, status FROM jobs WHERE id = ANY($1)";

/// The ids among the array `$1` that are taken.
pub(super) const SELECT_TAKEN_IDS: &str = "SELECT id FROM jobs WHERE id = ANY($1)";

/// Deletes one job.
pub(super) const DELETE_JOB: &str = "DELETE FROM jobs WHERE id = $1";

/// The counts kept by the triggers, summed over the sessions' rows, and how many rows there are.
pub(super) const SELECT_COUNTS: &str =
    "SELECT status, sum(count)::int8, count(*)::int8 FROM job_counts GROUP BY status";

/// Takes the lock that lets one session at a time fold the counter rows (`true` when taken).
pub(super) const TRY_LOCK_FOLD: &str =
    "SELECT pg_try_advisory_xact_lock(hashtext('oa_jobs.job_counts.fold'))";

/// Folds the counter rows of sessions that ended into slot 0 (rows a transaction is changing
/// are skipped, never waited for).
pub(super) const FOLD_COUNTS: &str = "WITH gone AS ( \
         DELETE FROM job_counts WHERE ctid IN ( \
             SELECT ctid FROM job_counts \
             WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity) \
             FOR UPDATE SKIP LOCKED) \
         RETURNING status, count), \
     sums AS (SELECT status, sum(count)::int8 AS count FROM gone GROUP BY status) \
     INSERT INTO job_counts (status, slot, count) SELECT status, 0, count FROM sums \
     ON CONFLICT (status, slot) DO UPDATE SET count = job_counts.count + EXCLUDED.count";

/// Lets the planner read the jobs whole until the end of the transaction (the store's
/// connections run with `enable_seqscan = off`; listings filter on what no index serves).
pub(super) const ALLOW_SEQSCAN: &str = "SET LOCAL enable_seqscan = on";

/// The start of a listing; the filters and the page are appended.
pub(super) const LIST_JOBS: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE TRUE");

/// What a claim sets: exactly what [`Job::start`](crate::Job::start) does, to the jobs whose ids
/// the subquery that follows returns. `$1` is now, `$2` the worker, `$3` the lease.
///
/// The ids are matched with `= ANY(ARRAY(...))` rather than a join or `IN (...)`: with a
/// parameter as the limit, PostgreSQL's generic plan expects hundreds of picked rows and would
/// hash-join them with a scan of the whole table; an array of ids is always looked up in the
/// primary key.
macro_rules! claim_set {
    () => {
        "UPDATE jobs SET status = 'running', attempt = least(attempt + 1, 4294967295), \
         started_at = $1, progress = 0, worker_id = $2, lease_expires_at = $3, updated_at = $1 \
         WHERE id = ANY(ARRAY("
    };
}

/// The claim of [`CLAIM_ONE_NAME`], without its `RETURNING`.
macro_rules! claim_one_name {
    () => {
        concat!(
            claim_set!(),
            "SELECT id FROM jobs WHERE status = 'queued' AND name = $4 AND ready_at <= $1 \
             ORDER BY priority DESC, ready_at, id LIMIT $5 FOR UPDATE SKIP LOCKED))"
        )
    };
}

/// A claim (`claim_one_name!` or `claim_many_names!`) as the `WITH` query `claimed`, and its
/// count (`count_claimed!`); the caller appends what follows.
macro_rules! claimed {
    ($claim:ident) => {
        concat!(
            "WITH claimed AS (",
            $claim!(),
            " RETURNING ",
            job_columns!(),
            ")",
            count_claimed!()
        )
    };
}

/// Claims the next `$5` claimable jobs named `$4`, walking the `jobs_ready` index in claim order
/// and skipping the rows other claims have locked, and counts them (`count_claimed!`).
pub(super) const CLAIM_ONE_NAME: &str = concat!(
    claimed!(claim_one_name),
    "SELECT ",
    job_columns!(),
    " FROM claimed"
);

/// The claim of [`CLAIM_MANY_NAMES`], without its `RETURNING`.
macro_rules! claim_many_names {
    () => {
        concat!(
            claim_set!(),
            "SELECT c.id FROM unnest($4::text[]) AS n(name) CROSS JOIN LATERAL ( \
                 SELECT id, priority, ready_at FROM jobs \
                 WHERE status = 'queued' AND name = n.name AND ready_at <= $1 \
                 ORDER BY priority DESC, ready_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) AS c \
             ORDER BY c.priority DESC, c.ready_at, c.id LIMIT $5))"
        )
    };
}

/// Claims the next `$5` claimable jobs whose name is in the array `$4` (distinct names): the
/// first `$5` of each name from the `jobs_ready` index, then the best `$5` of those. (The rows
/// locked and not kept are released at the end of the statement's transaction, a moment later.)
pub(super) const CLAIM_MANY_NAMES: &str = concat!(
    claimed!(claim_many_names),
    "SELECT ",
    job_columns!(),
    " FROM claimed"
);

/// The wire name of the claimed row `c`'s priority (`oa_jobs_priority` of the fourth migration,
/// written out: see [`claim_event_data!`]).
macro_rules! claimed_priority {
    () => {
        "(ARRAY['low', 'medium', 'high', 'critical'])[c.priority + 1]"
    };
}

/// The data of a claim's event `k` (0: `worker.claimed_job`, 1: `job.started`) for the
/// claimed row `c`: the bodies of the fourth migration's `oa_jobs_claimed_data` and
/// `oa_jobs_started_data`, written out with the priority's name in the statement. Those
/// functions call `oa_jobs_priority`, which PostgreSQL cannot inline (it is `STRICT` and its
/// body is not), so every claim planned its body again: about 30 µs of a one-job claim's
/// 0.4 ms (one connection, pgbench). Written out, the whole expression is planned once per
/// prepared statement; the functions stay in the schema, so no migration is needed and older
/// processes keep working against the same database. The data is the same text.
macro_rules! claim_event_data {
    () => {
        concat!(
            "CASE k.k WHEN 0 THEN jsonb_build_object('attempt', c.attempt, 'name', c.name, \
                 'priority', ",
            claimed_priority!(),
            ")::text \
             ELSE (jsonb_build_object( \
                 'attempt', c.attempt, \
                 'created_at', oa_jobs_rfc3339(c.created_at), \
                 'finished_at', oa_jobs_rfc3339(c.finished_at), \
                 'max_retries', c.max_retries, \
                 'name', c.name, \
                 'priority', ",
            claimed_priority!(),
            ", 'progress', 0.0, \
                 'queued_at', oa_jobs_rfc3339(c.queued_at), \
                 'started_at', oa_jobs_rfc3339(c.started_at), \
                 'status', 'running'::text, \
                 'tags', c.tags) \
                 || CASE WHEN c.error IS NULL THEN '{}'::jsonb \
                         ELSE jsonb_build_object('error', jsonb_build_object( \
                                  'kind', c.error -> 'kind', 'message', c.error -> 'message')) END \
                 || CASE WHEN c.result IS NULL THEN '{}'::jsonb \
                         ELSE jsonb_build_object('result', c.result) END)::text END"
        )
    };
}

/// Logs the events of the jobs a claim returned as `claimed` (the statement's first part), in
/// the statement itself: for each job in claim order, `worker.claimed_job` then `job.started`
/// (`claim_event_data!`), with the ids of the array `$6` (two per job, in that order), at `$1`
/// (the claim's time), for the worker `$2`. Then returns the claimed jobs.
macro_rules! log_claimed {
    () => {
        concat!(
            ", logged AS (INSERT INTO events (id, event_type, timestamp, job_id, worker_id, data) \
                 SELECT ($6::uuid[])[2 * c.n - 1 + k.k], k.event_type, $1, c.id, $2, ",
            claim_event_data!(),
            " FROM (SELECT claimed.*, row_number() OVER ( \
                           ORDER BY priority DESC, coalesce(queued_at, created_at), id) AS n \
                       FROM claimed) AS c \
                 CROSS JOIN (VALUES (0, 'worker.claimed_job'), (1, 'job.started')) \
                     AS k(k, event_type) \
                 ORDER BY c.n, k.k) \
             SELECT ",
            job_columns!(),
            " FROM claimed"
        )
    };
}

/// [`CLAIM_ONE_NAME`] that logs the claim's events in the same statement (`log_claimed!`).
pub(super) const CLAIM_ONE_NAME_LOGGED: &str = concat!(claimed!(claim_one_name), log_claimed!());

/// [`CLAIM_ONE_NAME_LOGGED`] for a claim of one job (`$5` is 1): its two events need no
/// numbering, so the plan has no window function and no sort of the claimed rows (one job per
/// claim is what a worker with small claims runs most). Same parameters, same result.
pub(super) const CLAIM_ONE_JOB_LOGGED: &str = concat!(
    claimed!(claim_one_name),
    ", logged AS (INSERT INTO events (id, event_type, timestamp, job_id, worker_id, data) \
         SELECT ($6::uuid[])[1 + k.k], k.event_type, $1, c.id, $2, ",
    claim_event_data!(),
    " FROM claimed AS c \
         CROSS JOIN (VALUES (0, 'worker.claimed_job'), (1, 'job.started')) AS k(k, event_type) \
         ORDER BY k.k) \
     SELECT ",
    job_columns!(),
    " FROM claimed"
);

/// [`CLAIM_MANY_NAMES`] that logs the claim's events in the same statement (`log_claimed!`).
pub(super) const CLAIM_MANY_NAMES_LOGGED: &str =
    concat!(claimed!(claim_many_names), log_claimed!());

/// Inserts or replaces a worker record.
pub(super) const UPSERT_WORKER: &str = concat!(
    "INSERT INTO workers (",
    worker_columns!(),
    ") VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, \
     tags = EXCLUDED.tags, job_names = EXCLUDED.job_names, \
     max_concurrent_jobs = EXCLUDED.max_concurrent_jobs, \
     heartbeat_interval_ms = EXCLUDED.heartbeat_interval_ms, state = EXCLUDED.state, \
     registered_at = EXCLUDED.registered_at, last_heartbeat_at = EXCLUDED.last_heartbeat_at, \
     offline_at = EXCLUDED.offline_at, offline_reason = EXCLUDED.offline_reason"
);

/// One worker record.
pub(super) const SELECT_WORKER: &str =
    concat!("SELECT ", worker_columns!(), " FROM workers WHERE id = $1");

/// Every worker record: online first, then offline, newest registration first.
pub(super) const LIST_WORKERS: &str = concat!(
    "SELECT ",
    worker_columns!(),
    " FROM workers ORDER BY state = 'offline', registered_at DESC, id"
);

/// The liveness of one worker, locked until the end of the transaction (of a heartbeat and a
/// reaper, or of two reapers, the second waits for the first and sees what it did).
pub(super) const LOCK_WORKER_STATE: &str =
    "SELECT state, last_heartbeat_at FROM workers WHERE id = $1 FOR UPDATE";

/// A heartbeat: online again, at `$2`.
pub(super) const WORKER_HEARTBEAT: &str = "UPDATE workers SET state = 'online', \
     last_heartbeat_at = $2, offline_at = NULL, offline_reason = NULL WHERE id = $1";

/// A worker goes offline at `$2` for reason `$3`.
pub(super) const WORKER_OFFLINE: &str = "UPDATE workers SET state = 'offline', \
     offline_at = $2, offline_reason = $3 WHERE id = $1";

/// Renews the leases of the jobs worker `$1` holds until `$2`. The rows are locked in id
/// order, the order in which the worker's commit batches lock them (`UPDATE_JOBS` over ids
/// sorted by the store), so that a heartbeat and a commit of the same worker never deadlock.
pub(super) const RENEW_LEASES: &str = "WITH held AS (SELECT id FROM jobs WHERE worker_id = $1 \
     ORDER BY id FOR UPDATE) UPDATE jobs SET lease_expires_at = $2 FROM held \
     WHERE jobs.id = held.id RETURNING jobs.id, jobs.status";

/// The jobs worker `$1` holds, locked until the end of the transaction.
pub(super) const LOCK_HELD: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE worker_id = $1 ORDER BY id FOR UPDATE"
);

/// The held jobs whose lease expired before `$1`, locked; rows another reaper (or a worker
/// finishing them) has locked are skipped, and a row that changed meanwhile is checked again.
pub(super) const LOCK_EXPIRED: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE worker_id IS NOT NULL AND lease_expires_at < $1 \
     ORDER BY id FOR UPDATE SKIP LOCKED"
);

/// Queued jobs not claimable until after `$1`, earliest first, at most `$2`.
pub(super) const SELECT_SCHEDULED: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE status = 'queued' AND queued_at > $1 ORDER BY queued_at, id LIMIT $2"
);

/// How many final jobs one purge statement deletes at most.
pub(super) const PURGE_BATCH: i64 = 1000;

/// Deletes up to `$2` final jobs finished before `$1` (one bounded batch; rows being changed
/// are skipped).
pub(super) const PURGE_FINISHED: &str = "DELETE FROM jobs WHERE id = ANY(ARRAY( \
     SELECT id FROM jobs WHERE finished_at < $1 \
     AND status IN ('completed', 'failed', 'cancelled') LIMIT $2 FOR UPDATE SKIP LOCKED))";

/// Inserts into the log the events of six arrays, the parameters given (ids, wire names,
/// times, job ids, worker ids, data: what
/// [`EventColumns::bind`](super::log::EventColumns::bind) binds, in that order), each row as
/// `u` with its position `n`; the caller appends its `WHERE` (if any) and `ORDER BY u.n`.
macro_rules! events_of_unnest {
    ($first:literal, $second:literal, $third:literal, $fourth:literal, $fifth:literal,
     $sixth:literal) => {
        concat!(
            "INSERT INTO events (id, event_type, timestamp, job_id, worker_id, data) \
             SELECT u.id, u.event_type, u.timestamp, u.job_id, u.worker_id, u.data FROM unnest(",
            $first, "::uuid[], ", $second, "::text[], ", $third, "::int8[], ", $fourth,
            "::text[], ", $fifth, "::text[], ", $sixth,
            "::text[]) WITH ORDINALITY AS u(id, event_type, timestamp, job_id, worker_id, data, n)"
        )
    };
}

/// The part of a statement that writes a change and its events: after the change's own `WITH`
/// query, the events of `events_of_unnest!` (the six parameters given) where `$condition`
/// holds, then the caller's final `SELECT`.
macro_rules! log_events {
    ($condition:literal, $($arrays:literal),+) => {
        concat!(
            ", logged AS (",
            events_of_unnest!($($arrays),+),
            " WHERE ",
            $condition,
            " ORDER BY u.n) "
        )
    };
}

/// Appends a batch of events to the log, numbered in the order of the arrays (the arrays as
/// [`EventColumns::bind`](super::log::EventColumns::bind) binds them), in one statement. The
/// wake-up notification is not sent here: a transaction that executes `NOTIFY` holds a
/// database-wide lock through its commit, which would serialize every logging transaction
/// (and their WAL flushes); [`PgStore`](super::PgStore) sends one after the commits instead.
pub(super) const INSERT_EVENTS: &str = concat!(
    events_of_unnest!("$1", "$2", "$3", "$4", "$5", "$6"),
    " ORDER BY u.n"
);

/// [`INSERT_JOBS`] and the events that describe the new jobs (the arrays of [`INSERT_EVENTS`]
/// as `$23`–`$28`), in one statement: all or nothing.
pub(super) const INSERT_JOBS_LOGGED: &str = concat!(
    "WITH inserted AS (",
    insert_jobs!(),
    " RETURNING 1)",
    log_events!("TRUE", "$23", "$24", "$25", "$26", "$27", "$28"),
    "SELECT count(*) FROM inserted"
);

/// [`UPDATE_JOB`] and its events (`$24`–`$29`, logged only if the job was written), in one
/// statement; returns how many jobs were written (0 or 1).
pub(super) const UPDATE_JOB_LOGGED: &str = concat!(
    update_job!(),
    log_events!(
        "EXISTS (SELECT 1 FROM changed)",
        "$24",
        "$25",
        "$26",
        "$27",
        "$28",
        "$29"
    ),
    "SELECT count(*) FROM changed"
);

/// [`UPDATE_JOBS`] and the events of all its updates (`$24`–`$29`), in one statement, all or
/// nothing: when fewer than `$30` jobs were written, the statement fails with SQLSTATE
/// [`NOT_ALL_APPLIED`] and writes nothing.
pub(super) const UPDATE_JOBS_LOGGED: &str = concat!(
    update_jobs!(),
    log_events!("TRUE", "$24", "$25", "$26", "$27", "$28", "$29"),
    "SELECT oa_jobs_all_applied($30, (SELECT count(*) FROM changed))"
);

/// What the end of an attempt sets, from the parameters of [`FINISH_JOB`]: only the columns it
/// changes ([`JobStore::finish_attempts`](crate::JobStore::finish_attempts)), so that the
/// payload, tags, metadata and retry policy are neither sent again nor parsed again.
macro_rules! finish_job {
    () => {
        concat!(
            "WITH changed AS (UPDATE jobs SET status = $2, progress = $3, attempt = $4, \
             result = $5::jsonb, error = $6::jsonb, worker_id = $7, queued_at = $8, \
             started_at = $9, finished_at = $10, updated_at = $11, lease_expires_at = $12 \
             WHERE id = $1 AND status = $13 AND ($13 NOT IN ('running', 'paused') \
             OR attempt = $4) RETURNING $13::text AS old_status, status)",
            count_changes!()
        )
    };
}

/// Records the end of one attempt if the job's stored status is still `$13` (and its attempt
/// still `$4`): the values as [`EncodedOutcome::bind`](super::rows::EncodedOutcome::bind) binds
/// them, then the expected status. Returns how many jobs were written (0 or 1).
pub(super) const FINISH_JOB: &str = concat!(finish_job!(), "SELECT count(*) FROM changed");

/// [`FINISH_JOB`] and its events (`$14`–`$19`, logged only if the job was written), in one
/// statement; returns how many jobs were written (0 or 1).
pub(super) const FINISH_JOB_LOGGED: &str = concat!(
    finish_job!(),
    log_events!(
        "EXISTS (SELECT 1 FROM changed)",
        "$14",
        "$15",
        "$16",
        "$17",
        "$18",
        "$19"
    ),
    "SELECT count(*) FROM changed"
);

/// The ends of many attempts as the `WITH` query `changed`, and their count: [`FINISH_JOB`]
/// over the arrays of [`OutcomeColumns::bind`](super::rows::OutcomeColumns::bind).
macro_rules! finish_jobs {
    () => {
        concat!(
            "WITH changed AS (UPDATE jobs SET status = u.status, progress = u.progress, \
             attempt = u.attempt, result = u.result::jsonb, error = u.error::jsonb, \
             worker_id = u.worker_id, queued_at = u.queued_at, started_at = u.started_at, \
             finished_at = u.finished_at, updated_at = u.updated_at, \
             lease_expires_at = u.lease_expires_at \
             FROM unnest($1::text[], $2::text[], $3::float8[], $4::int8[], $5::text[], \
                         $6::text[], $7::text[], $8::int8[], $9::int8[], $10::int8[], \
                         $11::int8[], $12::int8[], $13::text[]) \
                 AS u(id, status, progress, attempt, result, error, worker_id, queued_at, \
                      started_at, finished_at, updated_at, lease_expires_at, expected) \
             WHERE jobs.id = ANY(ARRAY(",
            lock_in_id_order!(),
            ")) AND jobs.id = u.id AND jobs.status = u.expected \
             AND (u.expected NOT IN ('running', 'paused') OR jobs.attempt = u.attempt) \
             RETURNING u.expected AS old_status, jobs.status)",
            count_changes!()
        )
    };
}

/// Records the ends of many attempts (distinct jobs), all or nothing: when fewer than `$14`
/// jobs were written, the statement fails with SQLSTATE [`NOT_ALL_APPLIED`] and writes nothing.
pub(super) const FINISH_JOBS: &str = concat!(
    finish_jobs!(),
    "SELECT oa_jobs_all_applied($14, (SELECT count(*) FROM changed))"
);

/// [`FINISH_JOBS`] and the events of all its updates (`$14`–`$19`), in one statement, all or
/// nothing: when fewer than `$20` jobs were written, it fails with SQLSTATE
/// [`NOT_ALL_APPLIED`] and writes nothing.
pub(super) const FINISH_JOBS_LOGGED: &str = concat!(
    finish_jobs!(),
    log_events!("TRUE", "$14", "$15", "$16", "$17", "$18", "$19"),
    "SELECT oa_jobs_all_applied($20, (SELECT count(*) FROM changed))"
);

/// What [`UPDATE_JOBS_LOGGED`] fails with when some update did not apply.
pub(super) const NOT_ALL_APPLIED: &str = "OA001";

/// Wakes the followers of other processes (no payload).
pub(super) const NOTIFY: &str = "SELECT pg_notify($1, '')";

/// Up to `$2` logged events numbered above `$1`, in order, each with whether it was logged
/// more than `$3` microseconds ago by the server's clock (whether a hole before it is settled).
pub(super) const SELECT_EVENTS_AFTER: &str = "SELECT seq, id, event_type, timestamp, job_id, \
     worker_id, data, logged_at <= clock_timestamp() - $3::int8 * interval '1 microsecond' \
     FROM events WHERE seq > $1 ORDER BY seq LIMIT $2";

/// The oldest retained number, how many events are retained, and the newest number: the
/// newest retained one, or when every event was trimmed the identity sequence's last value.
pub(super) const SELECT_EVENT_BOUNDS: &str = "SELECT coalesce(min(seq), 0), count(*), \
     coalesce(max(seq), pg_sequence_last_value('events_seq'), 0) FROM events";

/// Deletes up to `$2` of the oldest events numbered `$1` or more below the newest one (the
/// count rule of retention). Rows another trimmer has locked are skipped, never waited for.
pub(super) const TRIM_EVENTS_BY_COUNT: &str = "DELETE FROM events WHERE seq = ANY(ARRAY( \
     SELECT seq FROM events WHERE seq <= (SELECT max(seq) FROM events) - $1 \
     ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED))";

/// Deletes up to `$2` of the oldest events whose time is before `$1` (the age rule of
/// retention), walking `events_timestamp`. Rows another trimmer has locked are skipped.
pub(super) const TRIM_EVENTS_BY_AGE: &str = "DELETE FROM events WHERE seq = ANY(ARRAY( \
     SELECT seq FROM events WHERE timestamp < $1 \
     ORDER BY timestamp LIMIT $2 FOR UPDATE SKIP LOCKED))";
