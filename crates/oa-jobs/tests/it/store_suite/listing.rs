//! Listing and counting.

use super::*;

/// Thirty jobs spread over every status, three names, tags, priorities and two workers.
fn varied_jobs() -> Vec<Job> {
    (0..30)
        .map(|i| {
            let mut job = created(&format!("job-{i:02}"), ["alpha", "beta", "gamma"][i % 3]);
            job.priority = Priority::ALL[i % 4];
            job.tags = match i % 5 {
                0 => vec![],
                1 => vec!["red".to_owned()],
                2 => vec!["red".to_owned(), "blue".to_owned()],
                3 => vec!["blue".to_owned()],
                _ => vec!["green".to_owned(), "reddish".to_owned()],
            };
            job.status = JobStatus::ALL[i % 7];
            if matches!(job.status, JobStatus::Running | JobStatus::Paused) {
                job.worker_id = Some(["w1", "w2"][i % 2].to_owned());
            }
            job
        })
        .collect()
}

pub(super) async fn list_filters_and_pages_like_the_reference(store: Store) {
    let jobs = varied_jobs();
    // Inserted out of id order: listings order by id, not by insertion.
    let (first, second) = jobs.split_at(13);
    store.insert_many(second).await.unwrap();
    store.insert_many(first).await.unwrap();

    let filters = [
        JobFilter::all(),
        JobFilter::all().status(JobStatus::Queued),
        JobFilter::all()
            .status(JobStatus::Running)
            .status(JobStatus::Paused),
        JobFilter::all().name("beta"),
        JobFilter::all().name("delta"),
        JobFilter::all().tag("red"),
        JobFilter::all().tag("blue"),
        JobFilter::all().tag("re"),
        JobFilter::all().priority(Priority::Critical),
        JobFilter::all().worker("w1"),
        JobFilter::all().worker("w2").status(JobStatus::Running),
        JobFilter::all()
            .name("alpha")
            .tag("red")
            .priority(Priority::Low),
        JobFilter::all()
            .status(JobStatus::Completed)
            .status(JobStatus::Failed)
            .status(JobStatus::Cancelled)
            .name("gamma"),
    ];
    for filter in &filters {
        let mut expected: Vec<&Job> = jobs.iter().filter(|j| filter.matches(j)).collect();
        expected.sort_by(|a, b| b.id.cmp(&a.id));

        // One page holding everything.
        let all = store.list(filter, Page::first(100)).await.unwrap();
        assert_eq!(all.jobs.iter().collect::<Vec<_>>(), expected, "{filter:?}");
        assert_eq!(all.next_offset, None, "{filter:?}");

        // Pages of 4.
        let mut collected = Vec::new();
        let mut offset = 0;
        loop {
            let JobPage {
                jobs: page,
                next_offset,
            } = store
                .list(filter, Page::new(4, offset).unwrap())
                .await
                .unwrap();
            assert!(page.len() <= 4);
            let remaining = expected.len() as u64 - offset.min(expected.len() as u64);
            assert_eq!(page.len() as u64, remaining.min(4), "{filter:?} @ {offset}");
            collected.extend(page);
            match next_offset {
                Some(next) => {
                    assert_eq!(next, offset + 4);
                    assert!(next < expected.len() as u64, "{filter:?}: empty next page");
                    offset = next;
                }
                None => break,
            }
        }
        assert_eq!(collected.iter().collect::<Vec<_>>(), expected, "{filter:?}");
    }

    // A page that ends exactly at the last job has no next page; past the end is empty.
    let exact = store
        .list(&JobFilter::all(), Page::new(10, 20).unwrap())
        .await
        .unwrap();
    assert_eq!(exact.jobs.len(), 10);
    assert_eq!(exact.next_offset, None);
    let past = store
        .list(&JobFilter::all(), Page::new(10, 31).unwrap())
        .await
        .unwrap();
    assert_eq!(
        past,
        JobPage {
            jobs: vec![],
            next_offset: None
        }
    );
}

pub(super) async fn counts_match_a_scan_after_many_operations(store: Store) {
    assert_eq!(
        store.count_by_status().await.unwrap(),
        StatusCounts::default()
    );
    let jobs: Vec<Job> = (0..40).map(|i| created(&format!("c{i:02}"), "x")).collect();
    store.insert_many(&jobs).await.unwrap();
    assert_eq!(
        store
            .count_by_status()
            .await
            .unwrap()
            .get(JobStatus::Created),
        40
    );

    // Queue thirty, cancel two of the others.
    let mut updates = Vec::new();
    for job in &jobs[..30] {
        let mut job = job.clone();
        job.enqueue(at(1), at(1)).unwrap();
        updates.push(JobUpdate::new(job, JobStatus::Created));
    }
    for job in &jobs[30..32] {
        let mut job = job.clone();
        job.cancel(at(1)).unwrap();
        updates.push(JobUpdate::new(job, JobStatus::Created));
    }
    assert!(
        store
            .update_many(&updates)
            .await
            .unwrap()
            .iter()
            .all(Result::is_ok)
    );
    assert_counts_match_scan(&store).await;

    // Two workers claim twenty; complete five, fail five for good, pause two.
    let mut claimed = store
        .claim(&claim_request("w1", &["x"], 10, at(2)))
        .await
        .unwrap();
    claimed.extend(
        store
            .claim(&claim_request("w2", &["x"], 10, at(2)))
            .await
            .unwrap(),
    );
    assert_eq!(claimed.len(), 20);
    assert_counts_match_scan(&store).await;
    for (i, job) in claimed.iter().enumerate().take(12) {
        let mut job = job.clone();
        match i {
            0..5 => job.complete(json!(i), at(3)).unwrap(),
            5..10 => {
                job.fail_attempt(JobError::fatal("bad", "input"), at(3))
                    .unwrap();
            }
            _ => job.pause(at(3)).unwrap(),
        }
        store
            .update(&JobUpdate::new(job, JobStatus::Running))
            .await
            .unwrap();
    }
    assert_counts_match_scan(&store).await;

    // Lose a worker, expire the other's leases, delete and purge some.
    store
        .register_worker(&WorkerRecord::new("w1", at(0)))
        .await
        .unwrap();
    store
        .mark_worker_offline("w1", at(4), "heartbeat_timeout", None)
        .await
        .unwrap()
        .unwrap();
    assert_counts_match_scan(&store).await;
    store.requeue_expired(at(100)).await.unwrap();
    assert_counts_match_scan(&store).await;
    assert!(store.delete("c35").await.unwrap());
    assert_eq!(store.purge_finished(at(200)).await.unwrap(), 12);
    assert_counts_match_scan(&store).await;
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Running), 0);
    assert_eq!(counts.total(), 40 - 1 - 12);
}
