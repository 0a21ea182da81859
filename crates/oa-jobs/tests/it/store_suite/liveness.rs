//! Workers and liveness: records, heartbeats, lost workers, expired leases.

use super::*;

pub(super) async fn heartbeat_renews_the_leases_of_held_jobs(store: Store) {
    assert!(matches!(
        store.heartbeat("nobody", at(1), at(31)).await,
        Err(Error::WorkerNotFound { worker_id }) if worker_id == "nobody"
    ));
    for worker in ["w1", "w2"] {
        store
            .register_worker(&WorkerRecord::new(worker, at(0)))
            .await
            .unwrap();
    }
    store
        .insert_many(&[
            queued("j2", "x", Priority::Medium, at(0)),
            queued("j1", "x", Priority::Medium, at(0)),
            queued("j3", "x", Priority::Medium, at(0)),
            queued("j4", "y", Priority::Medium, at(0)),
        ])
        .await
        .unwrap();
    let held = store
        .claim(&claim_request("w1", &["x"], 3, at(1)))
        .await
        .unwrap();
    assert_eq!(ids(&held), ["j1", "j2", "j3"]);
    let other = claim_one(&store, "w2", "y", at(1)).await;
    // One job paused while held, one finished: only held jobs are renewed.
    let mut paused = held[1].clone();
    paused.pause(at(2)).unwrap();
    let mut done = held[2].clone();
    done.complete(json!(null), at(2)).unwrap();
    for (job, expected) in [(paused, JobStatus::Running), (done, JobStatus::Running)] {
        store.update(&JobUpdate::new(job, expected)).await.unwrap();
    }

    let outcome = store.heartbeat("w1", at(20), at(60)).await.unwrap();
    assert!(!outcome.revived);
    assert_eq!(
        outcome.held,
        [
            HeldJob {
                job_id: "j1".to_owned(),
                status: JobStatus::Running
            },
            HeldJob {
                job_id: "j2".to_owned(),
                status: JobStatus::Paused
            },
        ]
    );
    for id in ["j1", "j2"] {
        assert_eq!(get(&store, id).await.lease_expires_at, Some(at(60)));
    }
    assert_eq!(get(&store, "j3").await.lease_expires_at, None);
    assert_eq!(get(&store, "j4").await, other);
    let record = store.get_worker("w1").await.unwrap().unwrap();
    assert_eq!(record.last_heartbeat_at, at(20));
    assert_eq!(record.state, WorkerState::Online);

    // Declared lost, it comes back: its jobs were released, it must register anew.
    store
        .mark_worker_offline("w1", at(70), "heartbeat_timeout", Some(at(65)))
        .await
        .unwrap()
        .unwrap();
    let outcome = store.heartbeat("w1", at(80), at(110)).await.unwrap();
    assert!(outcome.revived);
    assert!(outcome.held.is_empty());
    let record = store.get_worker("w1").await.unwrap().unwrap();
    assert_eq!(
        (
            record.state,
            record.last_heartbeat_at,
            record.offline_at,
            record.offline_reason
        ),
        (WorkerState::Online, at(80), None, None)
    );
    assert!(
        !store
            .heartbeat("w1", at(81), at(111))
            .await
            .unwrap()
            .revived
    );
}

pub(super) async fn mark_worker_offline_releases_exactly_the_workers_jobs(store: Store) {
    for worker in ["w1", "w2"] {
        store
            .register_worker(&WorkerRecord::new(worker, at(0)))
            .await
            .unwrap();
    }
    let mut last_try = queued("r0", "last", Priority::Medium, at(0));
    last_try.max_retries = 0;
    store
        .insert_many(&[
            queued("r1", "retry", Priority::Medium, at(0)),
            last_try,
            queued("p", "pause", Priority::Medium, at(0)),
            queued("o", "other", Priority::Medium, at(0)),
            queued("q", "idle", Priority::Medium, at(0)),
        ])
        .await
        .unwrap();
    for name in ["retry", "last", "pause"] {
        claim_one(&store, "w1", name, at(1)).await;
    }
    claim_one(&store, "w2", "other", at(1)).await;
    let mut paused = get(&store, "p").await;
    paused.pause(at(2)).unwrap();
    store
        .update(&JobUpdate::new(paused, JobStatus::Running))
        .await
        .unwrap();
    let before: Vec<Job> = [
        get(&store, "p").await,
        get(&store, "r0").await,
        get(&store, "r1").await,
    ]
    .into();
    let untouched = [get(&store, "o").await, get(&store, "q").await];

    let changed = store
        .mark_worker_offline("w1", at(50), "heartbeat_timeout", Some(at(40)))
        .await
        .unwrap()
        .expect("w1 was online and silent");
    let mut expected = before.clone();
    let outcomes: Vec<LostOutcome> = expected
        .iter_mut()
        .map(|j| j.release_lost(at(50)))
        .collect();
    assert_eq!(
        outcomes,
        [
            LostOutcome::Released,
            LostOutcome::Failed,
            LostOutcome::Requeued
        ]
    );
    assert_eq!(changed, expected);
    for job in &expected {
        assert_eq!(&get(&store, &job.id).await, job);
    }
    assert_eq!(expected[2].status, JobStatus::Queued);
    assert_eq!(expected[2].queued_at, Some(at(50)));
    assert_eq!(expected[2].error.as_ref().unwrap().kind, LOST_KIND);
    for job in &untouched {
        assert_eq!(&get(&store, &job.id).await, job);
    }
    let record = store.get_worker("w1").await.unwrap().unwrap();
    assert_eq!(record.state, WorkerState::Offline);
    assert_eq!(record.offline_at, Some(at(50)));
    assert_eq!(record.offline_reason.as_deref(), Some("heartbeat_timeout"));

    // Of two reapers, one wins; an unknown worker is nobody's to declare.
    assert_eq!(
        store
            .mark_worker_offline("w1", at(51), "heartbeat_timeout", None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .mark_worker_offline("ghost", at(51), "shutdown", None)
            .await
            .unwrap(),
        None
    );
    // The requeued job can be claimed again, as a new attempt.
    let again = claim_one(&store, "w2", "retry", at(52)).await;
    assert_eq!(again.attempt, 2);
    assert_counts_match_scan(&store).await;
}

pub(super) async fn mark_worker_offline_respects_the_heartbeat_cutoff(store: Store) {
    store
        .register_worker(&WorkerRecord::new("w", at(0)))
        .await
        .unwrap();
    store.heartbeat("w", at(10), at(40)).await.unwrap();
    for cutoff in [at(9), at(10)] {
        assert_eq!(
            store
                .mark_worker_offline("w", at(11), "heartbeat_timeout", Some(cutoff))
                .await
                .unwrap(),
            None,
            "heartbeat at 10 is not before {cutoff}"
        );
    }
    assert_eq!(
        store.get_worker("w").await.unwrap().unwrap().state,
        WorkerState::Online
    );
    let cutoff = at(10) + TimeDelta::nanoseconds(1);
    assert_eq!(
        store
            .mark_worker_offline("w", at(11), "heartbeat_timeout", Some(cutoff))
            .await
            .unwrap(),
        Some(vec![])
    );

    // A graceful shutdown forces it, whatever the last heartbeat.
    store
        .register_worker(&WorkerRecord::new("v", at(20)))
        .await
        .unwrap();
    assert_eq!(
        store
            .mark_worker_offline("v", at(20), "shutdown", None)
            .await
            .unwrap(),
        Some(vec![])
    );
    let record = store.get_worker("v").await.unwrap().unwrap();
    assert_eq!(record.offline_reason.as_deref(), Some("shutdown"));
}

pub(super) async fn requeue_expired_releases_only_expired_leases(store: Store) {
    let mut last_try = queued("j3", "c", Priority::Medium, at(0));
    last_try.max_retries = 0;
    store
        .insert_many(&[
            queued("j1", "a", Priority::Medium, at(0)),
            queued("j2", "b", Priority::Medium, at(0)),
            last_try,
            queued("j4", "d", Priority::Medium, at(0)),
            queued("j5", "e", Priority::Medium, at(0)),
        ])
        .await
        .unwrap();
    for (name, lease) in [("a", 10), ("b", 20), ("c", 30), ("d", 5)] {
        let mut request = claim_request("w", &[name], 1, at(1));
        request.lease_until = at(lease);
        assert_eq!(store.claim(&request).await.unwrap().len(), 1);
    }
    let mut paused = get(&store, "j4").await;
    paused.pause(at(2)).unwrap();
    store
        .update(&JobUpdate::new(paused, JobStatus::Running))
        .await
        .unwrap();
    let snapshot: Vec<Job> = [
        get(&store, "j1").await,
        get(&store, "j2").await,
        get(&store, "j3").await,
        get(&store, "j4").await,
    ]
    .into();

    // Strictly before `now`: the lease ending at 20 still holds at 20.
    let changed = store.requeue_expired(at(20)).await.unwrap();
    let mut expected = vec![snapshot[0].clone(), snapshot[3].clone()];
    for job in &mut expected {
        job.release_lost(at(20));
    }
    assert_eq!(changed, expected);
    assert_eq!(changed[0].status, JobStatus::Queued);
    assert_eq!(changed[1].status, JobStatus::Paused);
    assert_eq!(changed[1].worker_id, None);
    assert!(store.requeue_expired(at(20)).await.unwrap().is_empty());

    let changed = store.requeue_expired(at(31)).await.unwrap();
    assert_eq!(ids(&changed), ["j2", "j3"]);
    assert_eq!(changed[0].status, JobStatus::Queued);
    assert_eq!(changed[1].status, JobStatus::Failed);
    assert_eq!(changed[1].finished_at, Some(at(31)));
    for job in &changed {
        assert_eq!(&get(&store, &job.id).await, job);
    }
    assert_eq!(get(&store, "j5").await.status, JobStatus::Queued);

    // Back in the queue, claimable at once.
    let again = store
        .claim(&claim_request("w2", &["a", "b"], 10, at(31)))
        .await
        .unwrap();
    assert_eq!(ids(&again), ["j1", "j2"]);
    assert!(again.iter().all(|j| j.attempt == 2));
    assert_counts_match_scan(&store).await;
}

pub(super) async fn workers_are_recorded_and_listed(store: Store) {
    let mut a = WorkerRecord::new("w-a", at(1));
    a.host = "host-1".to_owned();
    a.pid = 4242;
    a.tags = vec!["gpu".to_owned(), "eu".to_owned()];
    a.job_names = vec!["render".to_owned(), "email".to_owned()];
    a.max_concurrent_jobs = 16;
    a.heartbeat_interval_ms = 2500;
    let b = WorkerRecord::new("w-b", at(3));
    let c = WorkerRecord::new("w-c", at(2));
    for record in [&a, &b, &c] {
        store.register_worker(record).await.unwrap();
    }
    assert_eq!(store.get_worker("w-a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_worker("nobody").await.unwrap(), None);
    let order =
        |workers: Vec<WorkerRecord>| -> Vec<String> { workers.into_iter().map(|w| w.id).collect() };
    assert_eq!(
        order(store.list_workers().await.unwrap()),
        ["w-b", "w-c", "w-a"]
    );

    store
        .mark_worker_offline("w-b", at(4), "shutdown", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        order(store.list_workers().await.unwrap()),
        ["w-c", "w-a", "w-b"]
    );
    let offline = store.get_worker("w-b").await.unwrap().unwrap();
    assert_eq!(offline.state, WorkerState::Offline);
    assert_eq!(offline.offline_at, Some(at(4)));

    // Registering again replaces the record.
    let mut back = WorkerRecord::new("w-b", at(5));
    back.host = "host-2".to_owned();
    store.register_worker(&back).await.unwrap();
    assert_eq!(store.get_worker("w-b").await.unwrap(), Some(back));
    assert_eq!(
        order(store.list_workers().await.unwrap()),
        ["w-b", "w-c", "w-a"]
    );
}

pub(super) async fn a_late_outcome_of_an_older_attempt_is_refused(store: Store) {
    store
        .register_worker(&WorkerRecord::new("old", at(0)))
        .await
        .unwrap();
    store
        .register_worker(&WorkerRecord::new("new", at(0)))
        .await
        .unwrap();
    store
        .insert(&queued("j1", "x", Priority::Medium, at(0)))
        .await
        .unwrap();
    // The old worker claims attempt 1 with a lease until at(31), then goes silent.
    let first = claim_one(&store, "old", "x", at(1)).await;
    assert_eq!(first.attempt, 1);
    assert_eq!(ids(&store.requeue_expired(at(40)).await.unwrap()), ["j1"]);
    // Another worker claims attempt 2.
    let second = claim_one(&store, "new", "x", at(41)).await;
    assert_eq!(
        (second.attempt, second.worker_id.as_deref()),
        (2, Some("new"))
    );

    // The old worker wakes up and reports its attempt's outcome: refused, nothing written.
    let mut late = first.clone();
    late.complete(json!("late"), at(42)).unwrap();
    let refused = store
        .update(&JobUpdate::new(late.clone(), JobStatus::Running))
        .await;
    assert!(
        matches!(refused, Err(Error::StaleAttempt { ref job_id, attempt: 1 }) if job_id == "j1"),
        "{refused:?}"
    );
    let mut failed = first.clone();
    failed
        .fail_attempt(JobError::fatal("x", "late"), at(42))
        .unwrap();
    let stale = [
        JobUpdate::new(late, JobStatus::Running),
        JobUpdate::new(failed, JobStatus::Running),
    ];
    let all_stale = |results: &[oa_jobs::Result<()>]| {
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(Error::StaleAttempt { .. }))),
            "{results:?}"
        );
    };
    all_stale(&store.update_many(&stale).await.unwrap());
    assert_eq!(get(&store, "j1").await, second);

    // The same through `finish_attempts`, as a commit writer writes it: alone, then in a batch.
    let results = store.finish_attempts(&stale[1..]).await.unwrap();
    assert!(
        matches!(results[..], [Err(Error::StaleAttempt { attempt: 1, .. })]),
        "{results:?}"
    );
    all_stale(&store.finish_attempts(&stale).await.unwrap());
    assert_eq!(get(&store, "j1").await, second);

    // The current holder's outcome goes through.
    let mut done = second.clone();
    done.complete(json!("ok"), at(43)).unwrap();
    store
        .update(&JobUpdate::new(done.clone(), JobStatus::Running))
        .await
        .unwrap();
    assert_eq!(get(&store, "j1").await, done);
}

/// The ends of attempts as a worker's commit writer writes them (`finish_attempts`, which may
/// write only the columns an attempt's end changes): whatever the outcome, alone or in a
/// batch, the jobs read back whole and equal to what was given, and the counts follow; ends
/// that no longer apply are reported each on its own, and the others of their batch apply.
pub(super) async fn finish_attempts_write_the_ends_and_report_each_refusal(store: Store) {
    let mut jobs: Vec<Job> = (0..5)
        .map(|i| queued(&format!("f{i}"), "x", Priority::Medium, at(0)))
        .collect();
    jobs[0].tags = vec!["kept".to_owned()];
    jobs[0].metadata.insert("k".to_owned(), json!("v"));
    jobs[0].payload = json!({ "big": "x".repeat(1000) });
    jobs[2].max_retries = 0;
    store.insert_many(&jobs).await.unwrap();
    let claimed = store
        .claim(&claim_request("w", &["x"], 5, at(1)))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    let mut ended = Vec::new();
    for job in &claimed {
        let mut next = job.clone();
        match job.id.as_str() {
            // Back to the queue for a later attempt.
            "f1" => assert!(
                next.fail_attempt(JobError::new("flaky", "y"), at(2))
                    .unwrap()
                    .is_some()
            ),
            // No retries left: failed for good.
            "f2" => assert!(
                next.fail_attempt(JobError::new("boom", "x"), at(2))
                    .unwrap()
                    .is_none()
            ),
            _ => next
                .complete(json!({ "n": 1.5, "id": job.id }), at(2))
                .unwrap(),
        }
        ended.push(next);
    }
    let end = |job: &Job| JobUpdate::new(job.clone(), JobStatus::Running);

    // A batch of three, then one alone.
    let results = store
        .finish_attempts(&[end(&ended[0]), end(&ended[1]), end(&ended[2])])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let results = store.finish_attempts(&[end(&ended[3])]).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for job in &ended[..4] {
        assert_eq!(&get(&store, &job.id).await, job);
    }
    assert_eq!(get(&store, "f1").await.status, JobStatus::Queued);
    assert_counts_match_scan(&store).await;

    // An end written twice is refused, alone or beside a missing job and one that applies.
    let results = store.finish_attempts(&[end(&ended[0])]).await.unwrap();
    assert_conflict(
        results.into_iter().next().unwrap(),
        JobStatus::Running,
        JobStatus::Completed,
    );
    let mut missing = ended[4].clone();
    missing.id = "nope".to_owned();
    let results = store
        .finish_attempts(&[end(&ended[2]), end(&missing), end(&ended[4])])
        .await
        .unwrap();
    let mut results = results.into_iter();
    assert_conflict(
        results.next().unwrap(),
        JobStatus::Running,
        JobStatus::Failed,
    );
    assert_not_found(results.next().unwrap(), "nope");
    assert!(results.next().unwrap().is_ok());
    assert_eq!(get(&store, "f4").await, ended[4]);
    assert_counts_match_scan(&store).await;
}
