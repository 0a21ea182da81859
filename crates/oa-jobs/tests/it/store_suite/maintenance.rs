//! Maintenance: scheduled jobs and purging.

use super::*;

pub(super) async fn scheduled_after_lists_future_queued_jobs_earliest_first(store: Store) {
    let mut paused = queued("paused", "x", Priority::Medium, at(15));
    paused.pause(at(0)).unwrap();
    store
        .insert_many(&[
            queued("t20", "x", Priority::Critical, at(20)),
            queued("t10-b", "x", Priority::Low, at(10)),
            queued("t10-a", "y", Priority::High, at(10)),
            queued("t05", "x", Priority::Medium, at(5)),
            queued("t01", "x", Priority::Medium, at(1)),
            paused,
            created("created", "x"),
        ])
        .await
        .unwrap();
    let later = store.scheduled_after(at(5), 10).await.unwrap();
    assert_eq!(ids(&later), ["t10-a", "t10-b", "t20"]);
    assert_eq!(later[2], get(&store, "t20").await);
    let first = store.scheduled_after(at(5), 2).await.unwrap();
    assert_eq!(ids(&first), ["t10-a", "t10-b"]);
    let all = store.scheduled_after(at(0), 100).await.unwrap();
    assert_eq!(ids(&all), ["t01", "t05", "t10-a", "t10-b", "t20"]);
    assert!(store.scheduled_after(at(20), 100).await.unwrap().is_empty());
    assert!(store.scheduled_after(at(0), 0).await.unwrap().is_empty());
}

pub(super) async fn purge_finished_deletes_old_final_jobs(store: Store) {
    let finished = |id: &str, status: JobStatus, secs: i64| {
        let mut job = created(id, "x");
        job.status = status;
        job.finished_at = Some(at(secs));
        job
    };
    store
        .insert_many(&[
            finished("completed-10", JobStatus::Completed, 10),
            finished("failed-20", JobStatus::Failed, 20),
            finished("cancelled-30", JobStatus::Cancelled, 30),
            finished("completed-40", JobStatus::Completed, 40),
            queued("queued", "x", Priority::Medium, at(0)),
            queued("running", "y", Priority::Medium, at(0)),
            created("created", "x"),
        ])
        .await
        .unwrap();
    claim_one(&store, "w", "y", at(1)).await;

    assert_eq!(store.purge_finished(at(30)).await.unwrap(), 2);
    assert_eq!(store.get("completed-10").await.unwrap(), None);
    assert_eq!(store.get("failed-20").await.unwrap(), None);
    assert!(store.get("cancelled-30").await.unwrap().is_some());
    assert_eq!(store.purge_finished(at(1000)).await.unwrap(), 2);
    assert_eq!(store.purge_finished(at(1000)).await.unwrap(), 0);
    let left: HashSet<String> = scan(&store).await.into_iter().map(|j| j.id).collect();
    assert_eq!(
        left,
        HashSet::from(["queued", "running", "created"].map(str::to_owned))
    );
    assert_counts_match_scan(&store).await;
}
