//! Jobs: insert, get, update, delete.

use super::*;

pub(super) async fn insert_and_get_round_trip_every_field(store: Store) {
    let mut full = Job::new(
        "report.render",
        json!({
            "pages": [1, 2, 3],
            "ratio": 0.1 + 0.2,
            "tiny": 1e-300,
            "big": u64::MAX,
            "negative": -5,
            "nested": { "none": null, "yes": true, "text": "ünïcode ✓ \"quoted\"" },
        }),
        at(0),
    )
    .unwrap();
    full.id = "0190a5c4-0000-7000-8000-000000000001".to_owned();
    full.description = Some("Render the monthly report".to_owned());
    full.status = JobStatus::Running;
    full.priority = Priority::Critical;
    full.tags = vec![
        "billing".to_owned(),
        "eu-west".to_owned(),
        "with space".to_owned(),
    ];
    full.metadata = json!({ "owner": "ops", "weight": 3.5, "list": [1, "two"] })
        .as_object()
        .unwrap()
        .clone();
    full.max_retries = 7;
    full.retry_policy =
        RetryPolicy::exponential(Duration::from_millis(1500), 2.5, Duration::from_secs(600))
            .unwrap()
            .with_jitter(0.25)
            .unwrap();
    full.timeout = Some(Duration::new(90, 123_456_789));
    full.progress = 0.375_123_456_789;
    full.attempt = 3;
    full.result = Some(json!({ "rows": 42 }));
    full.error = Some(JobError::new("http_502", "upstream said no"));
    full.worker_id = Some("worker-a".to_owned());
    full.queued_at = Some(at(1) + TimeDelta::nanoseconds(1));
    full.started_at = Some(at(2) + TimeDelta::nanoseconds(7));
    full.finished_at = Some(at(3));
    full.updated_at = at(4) + TimeDelta::nanoseconds(999);
    full.lease_expires_at = Some(at(30) + TimeDelta::nanoseconds(3));

    // Every optional field empty.
    let mut bare = Job::new("x", Value::Null, at(-86_400 * 365 * 30)).unwrap();
    bare.retry_policy = RetryPolicy::fixed(Duration::from_millis(250));
    bare.max_retries = 0;
    bare.priority = Priority::Low;

    // A JSON null result is a result, not its absence.
    let mut null_result = created("null-result", "x");
    null_result.status = JobStatus::Completed;
    null_result.result = Some(Value::Null);
    null_result.payload = json!([]);
    null_result.progress = 1.0;

    for job in [&full, &bare, &null_result] {
        store.insert(job).await.unwrap();
        assert_eq!(&get(&store, &job.id).await, job);
    }
    assert_eq!(store.get("missing").await.unwrap(), None);

    // The listing reads the same records back.
    let listed = scan(&store).await;
    for job in [&full, &bare, &null_result] {
        assert_eq!(listed.iter().find(|j| j.id == job.id), Some(job));
    }
}

pub(super) async fn duplicate_ids_are_rejected_and_nothing_is_written(store: Store) {
    let original = queued("a", "original", Priority::High, at(1));
    store.insert(&original).await.unwrap();
    let impostor = created("a", "impostor");
    assert_duplicate(store.insert(&impostor).await, "a");
    assert_eq!(get(&store, "a").await, original);

    // A clash with a stored job: none of the batch is saved.
    let batch = [created("b", "x"), impostor.clone()];
    assert_duplicate(store.insert_many(&batch).await, "a");
    assert_eq!(store.get("b").await.unwrap(), None);

    // A clash inside the batch.
    let batch = [created("c", "x"), created("d", "x"), created("c", "y")];
    assert_duplicate(store.insert_many(&batch).await, "c");
    assert_eq!(store.get("c").await.unwrap(), None);
    assert_eq!(store.get("d").await.unwrap(), None);

    // The first offender in batch order is named.
    let batch = [created("e", "x"), created("e", "x"), impostor.clone()];
    assert_duplicate(store.insert_many(&batch).await, "e");

    store.insert_many(&[]).await.unwrap();
    assert_eq!(store.count_by_status().await.unwrap().total(), 1);

    // A large batch whose clash comes late: the earlier jobs are not saved either.
    let mut large: Vec<Job> = (0..600)
        .map(|i| created(&format!("n{i:04}"), "x"))
        .collect();
    large[599] = created("a", "late impostor");
    assert_duplicate(store.insert_many(&large).await, "a");
    assert_eq!(store.get("n0000").await.unwrap(), None);
    assert_eq!(store.count_by_status().await.unwrap().total(), 1);

    large[599] = created("n0599", "x");
    store.insert_many(&large).await.unwrap();
    assert_eq!(store.count_by_status().await.unwrap().total(), 601);
    assert_eq!(get(&store, "n0599").await, large[599]);
    assert_counts_match_scan(&store).await;
}

pub(super) async fn update_checks_the_expected_status_and_the_state_machine(store: Store) {
    let job = queued("u", "x", Priority::Medium, at(1));
    store.insert(&job).await.unwrap();

    let mut running = job.clone();
    running.start("w", at(2), at(32)).unwrap();
    store
        .update(&JobUpdate::new(running.clone(), JobStatus::Queued))
        .await
        .unwrap();
    assert_eq!(get(&store, "u").await, running);

    // Progress keeps the status.
    let mut progressed = running.clone();
    progressed.set_progress(0.5, at(3));
    store
        .update(&JobUpdate::new(progressed.clone(), JobStatus::Running))
        .await
        .unwrap();
    assert_eq!(get(&store, "u").await, progressed);

    // Someone moved it first.
    let mut stale = job.clone();
    stale.cancel(at(4)).unwrap();
    assert_conflict(
        store
            .update(&JobUpdate::new(stale.clone(), JobStatus::Queued))
            .await,
        JobStatus::Queued,
        JobStatus::Running,
    );
    // A conflict is reported before a forbidden move.
    let mut requeued = stale.clone();
    requeued.status = JobStatus::Queued;
    assert_conflict(
        store
            .update(&JobUpdate::new(requeued, JobStatus::Completed))
            .await,
        JobStatus::Completed,
        JobStatus::Running,
    );
    // The move itself is forbidden.
    let mut back = progressed.clone();
    back.status = JobStatus::Created;
    assert_invalid(
        store
            .update(&JobUpdate::new(back, JobStatus::Running))
            .await,
        JobStatus::Running,
        JobStatus::Created,
    );
    // Unknown job, whatever the move.
    let ghost = created("ghost", "x");
    assert_not_found(
        store
            .update(&JobUpdate::new(ghost.clone(), JobStatus::Created))
            .await,
        "ghost",
    );
    let mut ghost_final = ghost;
    ghost_final.status = JobStatus::Completed;
    assert_not_found(
        store
            .update(&JobUpdate::new(ghost_final, JobStatus::Created))
            .await,
        "ghost",
    );
    assert_eq!(
        get(&store, "u").await,
        progressed,
        "an error changed the job"
    );
    assert_eq!(store.get("ghost").await.unwrap(), None);

    // Queued to queued is not a progress report.
    let other = queued("v", "x", Priority::Medium, at(1));
    store.insert(&other).await.unwrap();
    let mut touched = other.clone();
    touched.updated_at = at(5);
    assert_invalid(
        store
            .update(&JobUpdate::new(touched, JobStatus::Queued))
            .await,
        JobStatus::Queued,
        JobStatus::Queued,
    );
    assert_eq!(get(&store, "v").await, other);

    // A final job goes nowhere.
    let mut done = progressed.clone();
    done.complete(json!("ok"), at(6)).unwrap();
    store
        .update(&JobUpdate::new(done.clone(), JobStatus::Running))
        .await
        .unwrap();
    let mut revived = done.clone();
    revived.status = JobStatus::Running;
    assert_invalid(
        store
            .update(&JobUpdate::new(revived, JobStatus::Completed))
            .await,
        JobStatus::Completed,
        JobStatus::Running,
    );
    assert_eq!(get(&store, "u").await, done);
    assert_counts_match_scan(&store).await;
}

pub(super) async fn update_many_reports_each_update_on_its_own(store: Store) {
    let jobs: Vec<Job> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| queued(id, "x", Priority::Medium, at(1)))
        .collect();
    store.insert_many(&jobs).await.unwrap();
    let mut e = queued("e", "x", Priority::Medium, at(1));
    e.cancel(at(2)).unwrap();
    store.insert(&e).await.unwrap();

    let mut a = jobs[0].clone();
    a.start("w", at(3), at(33)).unwrap();
    let mut b = jobs[1].clone();
    b.status = JobStatus::Completed;
    let mut c = jobs[2].clone();
    c.status = JobStatus::Completed;
    let mut d = jobs[3].clone();
    d.pause(at(3)).unwrap();
    let mut e_again = e.clone();
    e_again.status = JobStatus::Queued;
    let results = store
        .update_many(&[
            JobUpdate::new(a.clone(), JobStatus::Queued),
            JobUpdate::new(b, JobStatus::Running),
            JobUpdate::new(created("missing", "x"), JobStatus::Created),
            JobUpdate::new(c, JobStatus::Queued),
            JobUpdate::new(d.clone(), JobStatus::Queued),
            JobUpdate::new(e_again, JobStatus::Cancelled),
        ])
        .await
        .unwrap();
    let mut results = results.into_iter();
    results.next().unwrap().unwrap();
    assert_conflict(
        results.next().unwrap(),
        JobStatus::Running,
        JobStatus::Queued,
    );
    assert_not_found(results.next().unwrap(), "missing");
    assert_invalid(
        results.next().unwrap(),
        JobStatus::Queued,
        JobStatus::Completed,
    );
    results.next().unwrap().unwrap();
    assert_invalid(
        results.next().unwrap(),
        JobStatus::Cancelled,
        JobStatus::Queued,
    );
    assert!(results.next().is_none());
    assert_eq!(get(&store, "a").await, a);
    assert_eq!(get(&store, "b").await, jobs[1]);
    assert_eq!(get(&store, "c").await, jobs[2]);
    assert_eq!(get(&store, "d").await, d);
    assert_eq!(get(&store, "e").await, e);
    assert_eq!(store.get("missing").await.unwrap(), None);

    // Forbidden moves and missing jobs beside updates that all apply.
    let g = queued("g", "x", Priority::Medium, at(1));
    store.insert(&g).await.unwrap();
    let mut g_running = g.clone();
    g_running.start("w", at(4), at(34)).unwrap();
    let mut a_back = a.clone();
    a_back.status = JobStatus::Created;
    let mut ghost = created("ghost", "x");
    ghost.status = JobStatus::Completed;
    let results = store
        .update_many(&[
            JobUpdate::new(a_back, JobStatus::Running),
            JobUpdate::new(g_running.clone(), JobStatus::Queued),
            JobUpdate::new(ghost, JobStatus::Created),
        ])
        .await
        .unwrap();
    let mut results = results.into_iter();
    assert_invalid(
        results.next().unwrap(),
        JobStatus::Running,
        JobStatus::Created,
    );
    results.next().unwrap().unwrap();
    assert_not_found(results.next().unwrap(), "ghost");
    assert_eq!(get(&store, "a").await, a);
    assert_eq!(get(&store, "g").await, g_running);

    // Updates of one job in one batch apply in order, each seeing the previous one.
    let f = queued("f", "x", Priority::Medium, at(1));
    store.insert(&f).await.unwrap();
    let mut f_running = f.clone();
    f_running.start("w", at(4), at(34)).unwrap();
    let mut f_done = f_running.clone();
    f_done.complete(json!(1), at(5)).unwrap();
    let results = store
        .update_many(&[
            JobUpdate::new(f_running.clone(), JobStatus::Queued),
            JobUpdate::new(f_done.clone(), JobStatus::Running),
            JobUpdate::new(f_running, JobStatus::Queued),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    let mut results = results.into_iter();
    results.next().unwrap().unwrap();
    results.next().unwrap().unwrap();
    assert_conflict(
        results.next().unwrap(),
        JobStatus::Queued,
        JobStatus::Completed,
    );
    assert_eq!(get(&store, "f").await, f_done);

    // A batch larger than any single statement.
    let many: Vec<Job> = (0..700)
        .map(|i| queued(&format!("m{i:04}"), "bulk", Priority::Low, at(1)))
        .collect();
    store.insert_many(&many).await.unwrap();
    let mut updates: Vec<JobUpdate> = many
        .iter()
        .map(|job| {
            let mut job = job.clone();
            job.start("bulk-worker", at(6), at(36)).unwrap();
            JobUpdate::new(job, JobStatus::Queued)
        })
        .collect();
    // One stale update in the middle fails alone.
    updates[350].expected = JobStatus::Paused;
    let results = store.update_many(&updates).await.unwrap();
    assert_eq!(results.len(), 700);
    for (i, result) in results.into_iter().enumerate() {
        if i == 350 {
            assert_conflict(result, JobStatus::Paused, JobStatus::Queued);
        } else {
            result.unwrap();
        }
    }
    assert_eq!(get(&store, "m0699").await, updates[699].job);
    assert_eq!(get(&store, "m0350").await, many[350]);
    assert_eq!(store.update_many(&[]).await.unwrap().len(), 0);
    assert_counts_match_scan(&store).await;
}

pub(super) async fn delete_removes_a_job_whatever_its_status(store: Store) {
    let waiting = queued("q", "x", Priority::Medium, at(1));
    store.insert(&waiting).await.unwrap();
    store
        .insert(&queued("r", "x", Priority::Medium, at(1)))
        .await
        .unwrap();
    claim_one(&store, "w", "x", at(2)).await;
    let mut done = created("c", "x");
    done.cancel(at(3)).unwrap();
    store.insert(&done).await.unwrap();
    assert_eq!(store.count_by_status().await.unwrap().total(), 3);

    for id in ["q", "r", "c"] {
        assert!(store.delete(id).await.unwrap(), "{id}");
        assert_eq!(store.get(id).await.unwrap(), None);
        assert!(!store.delete(id).await.unwrap(), "{id} deleted twice");
    }
    assert!(!store.delete("never").await.unwrap());
    assert_eq!(
        store.count_by_status().await.unwrap(),
        StatusCounts::default()
    );
    // A deleted id can be used again.
    store.insert(&waiting).await.unwrap();
    assert_eq!(get(&store, "q").await, waiting);
}
