//! Every read route answers 200 with the seed's JSON shape; the shapes are pinned with insta
//! on the scripted sequence (fixed times, fixed clock).

use axum::http::StatusCode;
use insta::assert_json_snapshot;
use oa_metrics::MetricsQuery;

use crate::support::{Fixture, get};

/// The JSON routes and the snapshot that pins each one.
const ROUTES: [(&str, &str); 14] = [
    ("/", "root"),
    ("/status", "status"),
    ("/jobs/summary", "jobs_summary"),
    ("/jobs/recent", "jobs_recent"),
    ("/jobs/recent?limit=1", "jobs_recent_limit_1"),
    ("/jobs/tags", "jobs_tags"),
    ("/jobs/priorities", "jobs_priorities"),
    ("/jobs/running", "jobs_running"),
    ("/workers", "workers"),
    ("/workers/w1", "worker_w1"),
    ("/system", "system"),
    ("/system/events", "system_events"),
    ("/health", "health"),
    ("/ready", "ready"),
];

#[tokio::test]
async fn every_json_route_answers_its_pinned_shape() {
    let fixture = Fixture::new();
    fixture.script();
    let app = fixture.app();
    for (uri, name) in ROUTES {
        let answer = get(&app, uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.text());
        assert_eq!(answer.content_type(), "application/json", "{uri}");
        let mut settings = insta::Settings::clone_current();
        settings.set_info(&uri);
        settings.bind(|| assert_json_snapshot!(name, answer.json()));
    }
}

#[tokio::test]
async fn the_routes_answer_what_the_query_traits_answer() {
    let fixture = Fixture::new();
    fixture.script();
    let app = fixture.app();
    let metrics: &dyn MetricsQuery = &*fixture.collectors;
    let same = |value: serde_json::Value, expected: serde_json::Value| assert_eq!(value, expected);
    same(
        get(&app, "/status").await.json(),
        serde_json::to_value(metrics.complete_status()).unwrap(),
    );
    same(
        get(&app, "/jobs/recent?limit=100").await.json(),
        serde_json::to_value(metrics.recent_jobs(100)).unwrap(),
    );
    same(
        get(&app, "/workers").await.json(),
        serde_json::to_value(metrics.workers()).unwrap(),
    );
    same(
        get(&app, "/system/events").await.json(),
        serde_json::to_value(metrics.event_counts()).unwrap(),
    );
}

#[tokio::test]
async fn recent_jobs_default_to_ten_and_honour_the_limit() {
    let fixture = Fixture::new();
    fixture.script();
    let app = fixture.app();
    // The script finishes four jobs: the default page shows them all, newest first.
    let all = get(&app, "/jobs/recent").await.json();
    let ids: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].clone())
        .collect();
    assert_eq!(ids, ["j5", "j2", "j4", "j1"]);
    for limit in [1, 2, 3] {
        let page = get(&app, &format!("/jobs/recent?limit={limit}"))
            .await
            .json();
        assert_eq!(page.as_array().unwrap().len(), limit);
    }
    // Unknown parameters are ignored, as FastAPI does.
    let answer = get(&app, "/jobs/recent?limit=2&colour=blue").await;
    assert_eq!(answer.json().as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn prometheus_text_is_served_with_its_content_type() {
    let fixture = Fixture::new();
    fixture.script();
    let answer = get(&fixture.app(), "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), oa_metrics::PROMETHEUS_CONTENT_TYPE);
    assert_eq!(answer.text(), fixture.collectors.prometheus_text());
    assert!(
        answer
            .text()
            .contains("oa_events_total{type=\"job.failed\"} 1")
    );
}

#[tokio::test]
async fn readiness_follows_the_flag() {
    let fixture = Fixture::new();
    let app = fixture.app();
    assert_eq!(get(&app, "/ready").await.status, StatusCode::OK);
    fixture.state.readiness().set_ready(false);
    get(&app, "/ready")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    // Liveness does not depend on readiness.
    assert_eq!(get(&app, "/health").await.json()["status"], "ok");
    fixture.state.readiness().set_ready(true);
    assert_eq!(get(&app, "/ready").await.json()["status"], "ready");
}

#[tokio::test(start_paused = true)]
async fn cached_bodies_are_reused_for_the_ttl_and_cleared_by_control() {
    let fixture = Fixture::new();
    fixture.script();
    let app = fixture.app();
    assert_eq!(get(&app, "/jobs/summary").await.json()["total_jobs"], 4);
    fixture.emitter.emit(
        oa_events::Event::for_job(oa_events::EventType::JobStarted, "j9")
            .with_timestamp(crate::support::at(8.5))
            .with_data("name", "task-j9")
            .with_data("priority", "low")
            .with_data("tags", serde_json::json!([]))
            .with_data("attempt", 1),
    );
    assert_eq!(
        oa_metrics::JobQuery::summary(&*fixture.collectors).total_jobs,
        5
    );
    // Within the TTL (100 ms by default) the rendered body is served again.
    assert_eq!(get(&app, "/jobs/summary").await.json()["total_jobs"], 4);
    tokio::time::advance(oa_api::DEFAULT_RESPONSE_CACHE_TTL).await;
    assert_eq!(get(&app, "/jobs/summary").await.json()["total_jobs"], 5);
    // A control action shows at once.
    let disable = axum::http::Request::post("/system/disable")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        crate::support::send(&app, disable).await.status,
        StatusCode::OK
    );
    assert_eq!(get(&app, "/system").await.json()["enabled"], false);
}

#[tokio::test]
async fn a_zero_ttl_renders_every_read() {
    let config = oa_api::ApiConfig::builder()
        .response_cache_ttl(std::time::Duration::ZERO)
        .build()
        .unwrap();
    let fixture = Fixture::with_config(config);
    let app = fixture.app();
    assert_eq!(get(&app, "/jobs/summary").await.json()["total_jobs"], 0);
    fixture.script();
    assert_eq!(get(&app, "/jobs/summary").await.json()["total_jobs"], 4);
}
