#!/usr/bin/env python3
"""The floor of the SQLite store's schema, without the engine: what SQLite alone costs per job.

Creates a database from the store's own migration (crates/oa-jobs/migrations/sqlite/0001_init.sql,
WAL, synchronous=NORMAL), then runs the store's statements for N jobs with prepared statements
and nothing else: inserts in transactions of 1,000, claims of CLAIM jobs per transaction (the
store's claim statement), completions in transactions of 1,024 (the store's full-row update).
No events, no async runtime, no sqlx: what is left is the schema's own work (three partial
indexes, the text primary key, the per-status counting triggers, 22 columns).

    python3 crates/oa-jobs/benches/sqlite_floor.py [claim-batch (512)] [jobs (60000)] [--no-triggers]

Uses the system's Python and its SQLite (not the bundled one the store links), so read its
figures as the order of magnitude the targets of issue 3 must be compared with.
"""
import os
import sqlite3
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATION = os.path.join(HERE, "..", "migrations", "sqlite", "0001_init.sql")
COLUMNS = ("id, name, description, payload, status, priority, tags, metadata, max_retries, "
           "retry_policy, timeout_ns, progress, attempt, result, error, worker_id, created_at, "
           "queued_at, started_at, finished_at, updated_at, lease_expires_at")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    claim_batch = int(args[0]) if args else 512
    jobs = int(args[1]) if len(args) > 1 else 60000
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(os.path.join(tmp, "floor.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        with open(MIGRATION, encoding="utf-8") as f:
            db.executescript(f.read())
        if "--no-triggers" in sys.argv:
            db.executescript("DROP TRIGGER jobs_count_insert; DROP TRIGGER jobs_count_delete; "
                             "DROP TRIGGER jobs_count_update;")
        t0 = time.perf_counter()
        for first in range(0, jobs, 1000):
            rows = [(str(uuid.UUID(int=(10**6 + i) << 64 | i)), "noop", None, "null", "queued", 1,
                     "[]", "{}", 3, '{"kind":"exponential"}', None, 0.0, 0, None, None, None,
                     10**6 + i, 10**6 + i, None, None, 10**6 + i, None)
                    for i in range(first, min(first + 1000, jobs))]
            db.execute("BEGIN IMMEDIATE")
            db.executemany(f"INSERT INTO jobs ({COLUMNS}) VALUES ({','.join('?' * 22)})", rows)
            db.execute("COMMIT")
        t1 = time.perf_counter()
        claimed = []
        while True:
            db.execute("BEGIN IMMEDIATE")
            got = db.execute(
                "UPDATE jobs SET status = 'running', attempt = attempt + 1, started_at = ?1, "
                "progress = 0.0, worker_id = 'w', lease_expires_at = ?2, updated_at = ?1 "
                "WHERE id IN (SELECT c.id FROM jobs AS c INDEXED BY jobs_ready "
                "WHERE c.status = 'queued' AND c.name = 'noop' AND c.ready_at <= ?1 "
                f"ORDER BY c.priority DESC, c.ready_at, c.id LIMIT {claim_batch}) "
                f"RETURNING {COLUMNS}", (9 * 10**6, 99 * 10**5)).fetchall()
            db.execute("COMMIT")
            if not got:
                break
            claimed.extend(got)
        t2 = time.perf_counter()
        for first in range(0, len(claimed), 1024):
            rows = [(r[0], "noop", None, "null", "completed", 1, "[]", "{}", 3,
                     '{"kind":"exponential"}', None, 1.0, 1, "null", None, None, r[16], r[17],
                     9 * 10**6, 9 * 10**6 + 1, 9 * 10**6 + 1, None, "running", 1)
                    for r in claimed[first:first + 1024]]
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "UPDATE jobs SET name = ?2, description = ?3, payload = ?4, status = ?5, "
                "priority = ?6, tags = ?7, metadata = ?8, max_retries = ?9, retry_policy = ?10, "
                "timeout_ns = ?11, progress = ?12, attempt = ?13, result = ?14, error = ?15, "
                "worker_id = ?16, created_at = ?17, queued_at = ?18, started_at = ?19, "
                "finished_at = ?20, updated_at = ?21, lease_expires_at = ?22 "
                "WHERE id = ?1 AND status = ?23 AND attempt = ?24", rows)
            db.execute("COMMIT")
        t3 = time.perf_counter()
        per = lambda a, b: 1e6 * (b - a) / jobs
        print(f"SQLite {sqlite3.sqlite_version}, claims of {claim_batch}: insert {per(t0, t1):.1f} "
              f"µs/job, claim {per(t1, t2):.1f}, complete {per(t2, t3):.1f}, "
              f"total {per(t0, t3):.1f} µs/job = {jobs / (t3 - t0):,.0f} jobs/s")


if __name__ == "__main__":
    main()
