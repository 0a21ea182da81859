//! Claims: order, due times, names, limits, races.

use super::*;

pub(super) async fn claim_takes_priority_then_oldest_then_id(store: Store) {
    let jobs = [
        queued("low", "work", Priority::Low, at(1)),
        queued("medium", "work", Priority::Medium, at(2)),
        queued("high-late", "work", Priority::High, at(3)),
        queued("high-early-2", "work", Priority::High, at(1)),
        queued("high-early-1", "work", Priority::High, at(1)),
        queued("critical-future", "work", Priority::Critical, at(100)),
        queued("critical-other", "other", Priority::Critical, at(0)),
    ];
    store.insert_many(&jobs).await.unwrap();
    let mut paused = queued("critical-paused", "work", Priority::Critical, at(0));
    paused.pause(at(0)).unwrap();
    let mut not_queued = created("critical-created", "work");
    not_queued.priority = Priority::Critical;
    store.insert_many(&[paused, not_queued]).await.unwrap();

    let request = claim_request("w1", &["work"], 3, at(10));
    let first = store.claim(&request).await.unwrap();
    assert_eq!(ids(&first), ["high-early-1", "high-early-2", "high-late"]);
    // A claim changes a job exactly as `Job::start` does.
    for claimed in &first {
        let mut expected = jobs.iter().find(|j| j.id == claimed.id).unwrap().clone();
        expected
            .start("w1", request.now, request.lease_until)
            .unwrap();
        assert_eq!(claimed, &expected);
        assert_eq!(get(&store, &claimed.id).await, expected);
    }

    let second = store
        .claim(&claim_request("w2", &["work"], 10, at(10)))
        .await
        .unwrap();
    assert_eq!(ids(&second), ["medium", "low"]);
    assert!(second.iter().all(|j| j.worker_id.as_deref() == Some("w2")));
    assert!(
        store
            .claim(&claim_request("w2", &["work"], 10, at(10)))
            .await
            .unwrap()
            .is_empty()
    );

    // Several names: one order across them.
    let both = store
        .claim(&claim_request(
            "w3",
            &["work", "other", "work"],
            10,
            at(200),
        ))
        .await
        .unwrap();
    assert_eq!(ids(&both), ["critical-other", "critical-future"]);
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Running), 7);
    assert_eq!(counts.get(JobStatus::Queued), 0);
    assert_counts_match_scan(&store).await;
}

pub(super) async fn claim_skips_jobs_not_yet_due_and_other_names(store: Store) {
    let mut retried = queued("retried", "a", Priority::Medium, at(5));
    retried.attempt = 2;
    // A queued job without `queued_at` is due from its creation.
    let mut unscheduled = created("unscheduled", "a");
    unscheduled.created_at = at(7);
    unscheduled.status = JobStatus::Queued;
    let jobs = [
        retried,
        unscheduled,
        queued("b1", "b", Priority::Critical, at(0)),
        queued("b2", "b", Priority::Low, at(0)),
        queued("c1", "c", Priority::Low, at(0)),
    ];
    store.insert_many(&jobs).await.unwrap();

    let none = |names: &'static [&'static str], limit, now| {
        let store = Arc::clone(&store);
        async move {
            let claimed = store
                .claim(&claim_request("w", names, limit, now))
                .await
                .unwrap();
            assert!(claimed.is_empty(), "{names:?} @ {now}: {:?}", ids(&claimed));
        }
    };
    none(&["a"], 10, at(4)).await;
    none(&[], 10, at(100)).await;
    none(&["b"], 0, at(100)).await;
    none(&["zzz"], 10, at(100)).await;

    // Due exactly at `now`.
    let claimed = store
        .claim(&claim_request("w", &["a"], 10, at(5)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["retried"]);
    assert_eq!(claimed[0].attempt, 3);
    assert_eq!(claimed[0].progress, 0.0);
    let claimed = store
        .claim(&claim_request("w", &["a"], 10, at(7)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["unscheduled"]);

    // The limit holds across names, best first.
    let claimed = store
        .claim(&claim_request("w", &["c", "b"], 2, at(8)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["b1", "b2"]);
    let claimed = store
        .claim(&claim_request("w", &["b", "c"], 2, at(8)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["c1"]);
}

pub(super) async fn concurrent_claims_never_share_a_job(store: Store) {
    let jobs: Vec<Job> = (0..300)
        .map(|i| {
            queued(
                &format!("r{i:03}"),
                ["p", "q"][i % 2],
                Priority::ALL[i % 4],
                at(i64::try_from(i % 7).unwrap()),
            )
        })
        .collect();
    store.insert_many(&jobs).await.unwrap();
    let mut tasks = Vec::new();
    for claimer in 0..6_u32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{claimer}");
            let names: &[&str] = if claimer % 2 == 0 {
                &["p", "q"]
            } else {
                &["q"]
            };
            let mut mine = Vec::new();
            loop {
                let limit = 1 + claimer % 4;
                let claimed = store
                    .claim(&claim_request(&worker, names, limit, at(10)))
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                assert!(claimed.len() <= limit as usize);
                assert!(
                    claimed
                        .iter()
                        .all(|j| j.worker_id.as_deref() == Some(&*worker))
                );
                mine.extend(claimed.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 300);
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Running), 300);
}
