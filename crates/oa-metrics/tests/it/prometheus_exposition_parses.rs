//! The Prometheus exposition is valid text format 0.0.4 (checked by a small parser below) and
//! carries the collectors' figures under the names of ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use oa_events::{EventEmitter, EventType};
use oa_metrics::{Collectors, ManualClock, MetricsQuery, PROMETHEUS_CONTENT_TYPE};
use serde_json::json;

use crate::support::{TestJob, at, config_with, emit_script};

/// `(name, value)` pairs.
type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

#[derive(Debug, Default)]
pub(crate) struct Exposition {
    /// Family name → type.
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `{a="x",b="y"}` (after the name); returns the labels and the rest of the line.
fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let Some(mut rest) = text.strip_prefix('{') else {
        return Ok((Vec::new(), text));
    };
    let mut labels = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value without quote")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => return Err(format!("bad escape \\{other}")),
                },
                (_, '\n') => return Err("raw line feed in a label value".into()),
                (_, c) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

pub(crate) fn parse(text: &str) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    let mut helped = BTreeSet::new();
    let mut family: Option<(String, String)> = None;
    let mut series = BTreeSet::new();
    if !text.ends_with('\n') {
        return Err("the text must end with a line feed".into());
    }
    for line in text.lines() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, doc) = help.split_once(' ').ok_or("HELP without text")?;
            if doc.is_empty() || !helped.insert(name.to_owned()) {
                return Err(format!("empty or repeated HELP for {name}"));
            }
        } else if let Some(kind) = line.strip_prefix("# TYPE ") {
            let (name, kind) = kind.split_once(' ').ok_or("TYPE without type")?;
            if !["counter", "gauge", "histogram"].contains(&kind) {
                return Err(format!("unexpected type {kind}"));
            }
            if !helped.contains(name) || exposition.types.contains_key(name) {
                return Err(format!("TYPE of {name} without HELP first, or repeated"));
            }
            if kind == "counter" && !name.ends_with("_total") {
                return Err(format!("counter {name} does not end in _total"));
            }
            exposition.types.insert(name.to_owned(), kind.to_owned());
            family = Some((name.to_owned(), kind.to_owned()));
        } else if line.starts_with('#') || line.is_empty() {
            return Err(format!("unexpected line {line:?}"));
        } else {
            let end = line.find(['{', ' ']).ok_or("sample without value")?;
            let name = &line[..end];
            if !is_metric_name(name) {
                return Err(format!("bad metric name {name:?}"));
            }
            let (labels, rest) = parse_labels(&line[end..])?;
            let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other
                    .parse::<f64>()
                    .map_err(|e| format!("{other:?}: {e}"))?,
            };
            let (family, kind) = family.as_ref().ok_or("sample before any TYPE")?;
            let belongs = name == family
                || (kind == "histogram"
                    && [
                        format!("{family}_bucket"),
                        format!("{family}_sum"),
                        format!("{family}_count"),
                    ]
                    .iter()
                    .any(|n| n == name));
            if !belongs {
                return Err(format!("{name} is not part of family {family}"));
            }
            if !series.insert((name.to_owned(), labels.clone())) {
                return Err(format!("duplicate series {name} {labels:?}"));
            }
            exposition.samples.push(Sample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
    }
    check_histograms(&exposition)?;
    Ok(exposition)
}

/// Buckets ascend, counts never decrease, `+Inf` equals `_count`, and `_sum` is there.
fn check_histograms(exposition: &Exposition) -> Result<(), String> {
    for (family, _) in exposition
        .types
        .iter()
        .filter(|(_, kind)| *kind == "histogram")
    {
        let mut by_series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in exposition
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let le = sample
                .labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or("bucket without le")?;
            let le = if le.1 == "+Inf" {
                f64::INFINITY
            } else {
                le.1.parse::<f64>().map_err(|e| e.to_string())?
            };
            let rest: Vec<_> = sample
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            by_series.entry(rest).or_default().push((le, sample.value));
        }
        if by_series.is_empty() {
            return Err(format!("histogram {family} has no buckets"));
        }
        for (labels, buckets) in by_series {
            let find = |suffix: &str| {
                exposition
                    .samples
                    .iter()
                    .find(|s| s.name == format!("{family}_{suffix}") && s.labels == labels)
                    .map(|s| s.value)
                    .ok_or(format!("{family}_{suffix} missing for {labels:?}"))
            };
            let count = find("count")?;
            find("sum")?;
            if !buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
            {
                return Err(format!(
                    "{family} {labels:?}: buckets not monotonic: {buckets:?}"
                ));
            }
            let last = buckets.last().ok_or("no bucket")?;
            if last.0 != f64::INFINITY || last.1 != count {
                return Err(format!(
                    "{family} {labels:?}: +Inf bucket {last:?} != count {count}"
                ));
            }
        }
    }
    Ok(())
}

fn value(exposition: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    exposition
        .samples
        .iter()
        .find(|s| {
            let mut have = s.labels.clone();
            have.sort();
            s.name == name && have == wanted
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
        .value
}

const WEIRD_TAG: &str = "we\"ird\\tag\nx";

fn scripted() -> (Collectors, String) {
    let clock = Arc::new(ManualClock::new(at(0.0)));
    let config = config_with(&clock)
        .prometheus_tags(["images", WEIRD_TAG, "never-seen"])
        .build()
        .unwrap();
    let collectors = Collectors::new(config);
    let emitter = EventEmitter::new();
    collectors.attach(&emitter);
    emit_script(&emitter);
    let mut odd = TestJob::new("odd", "low", &[WEIRD_TAG, "billing"]);
    odd.attempt = 1;
    emitter.emit(odd.event(EventType::JobStarted, 8.0, json!({})));
    emitter.emit(odd.event(EventType::JobCompleted, 9.5, json!({})));
    collectors.system_metrics().update_queue_depth(3);
    clock.set(at(10.0));
    let text = collectors.prometheus_text();
    (collectors, text)
}

#[test]
fn the_exposition_is_valid_text_format() {
    let (_, text) = scripted();
    let exposition = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(exposition.types.keys().all(|name| name.starts_with("oa_")));
    assert_eq!(
        PROMETHEUS_CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    for family in [
        "oa_jobs_started_total",
        "oa_jobs_finished_total",
        "oa_job_retries_total",
        "oa_jobs_running",
        "oa_job_execution_seconds",
        "oa_job_wait_seconds",
        "oa_jobs_completed_per_second",
        "oa_queue_depth",
        "oa_workers",
        "oa_events_total",
        "oa_events_dropped_total",
        "oa_event_handler_errors_total",
    ] {
        assert!(exposition.types.contains_key(family), "{family} missing");
    }
}

#[test]
fn the_parser_rejects_what_is_invalid() {
    let bad = [
        "oa_x 1\n",
        "# HELP oa_x h\n# TYPE oa_x counter\noa_x 1\n",
        "# HELP oa_x_total h\n# TYPE oa_x_total counter\noa_x_total{a=\"b} 1\n",
        "# HELP oa_x_total h\n# TYPE oa_x_total counter\noa_x_total 1\noa_x_total 2\n",
        "# HELP oa_h h\n# TYPE oa_h histogram\noa_h_bucket{le=\"1\"} 2\noa_h_bucket{le=\"+Inf\"} 1\noa_h_sum 1\noa_h_count 1\n",
        "# HELP oa_h h\n# TYPE oa_h histogram\noa_h_bucket{le=\"1\"} 1\noa_h_bucket{le=\"+Inf\"} 1\noa_h_sum 1\noa_h_count 2\n",
        "# HELP oa_g h\n# TYPE oa_g gauge\noa_g{1a=\"x\"} 1\n",
        "# HELP oa_g h\n# TYPE oa_g gauge\noa_g one\n",
    ];
    for text in bad {
        assert!(parse(text).is_err(), "accepted {text:?}");
    }
}

#[test]
fn the_exposition_carries_the_figures() {
    let (_, text) = scripted();
    let e = parse(&text).unwrap();
    let v = |name, labels: &[(&str, &str)]| value(&e, name, labels);
    assert_eq!(v("oa_jobs_started_total", &[("priority", "medium")]), 3.0);
    assert_eq!(
        v("oa_jobs_started_total", &[("priority", "low")]),
        2.0,
        "j3 and odd"
    );
    assert_eq!(
        v(
            "oa_jobs_finished_total",
            &[("outcome", "completed"), ("priority", "medium")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "oa_jobs_finished_total",
            &[("outcome", "failed"), ("priority", "low")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "oa_jobs_finished_total",
            &[("outcome", "cancelled"), ("priority", "critical")]
        ),
        1.0
    );
    assert_eq!(v("oa_job_retries_total", &[("priority", "low")]), 1.0);
    assert_eq!(v("oa_jobs_running", &[("priority", "medium")]), 1.0);
    let medium = [("priority", "medium")];
    assert_eq!(v("oa_job_execution_seconds_count", &medium), 2.0);
    assert_eq!(v("oa_job_execution_seconds_sum", &medium), 7.0);
    assert_eq!(
        v(
            "oa_job_execution_seconds_bucket",
            &[("priority", "medium"), ("le", "2.5")]
        ),
        0.0
    );
    assert_eq!(
        v(
            "oa_job_execution_seconds_bucket",
            &[("priority", "medium"), ("le", "5")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "oa_job_execution_seconds_bucket",
            &[("priority", "low"), ("le", "1")]
        ),
        0.0
    );
    assert_eq!(
        v(
            "oa_job_execution_seconds_bucket",
            &[("priority", "low"), ("le", "2.5")]
        ),
        1.0,
        "odd: 1.5 s"
    );
    assert_eq!(v("oa_job_wait_seconds_count", &medium), 3.0);
    assert_eq!(
        v(
            "oa_job_wait_seconds_bucket",
            &[("priority", "medium"), ("le", "1")]
        ),
        2.0
    );
    assert_eq!(
        v("oa_jobs_completed_per_second", &[("window", "1m")]),
        4.0 / 60.0
    );
    assert_eq!(v("oa_queue_depth", &[]), 3.0);
    assert_eq!(v("oa_workers", &[("state", "online")]), 1.0);
    assert_eq!(v("oa_workers", &[("state", "stale")]), 0.0);
    assert_eq!(v("oa_workers", &[("state", "offline")]), 2.0);
    assert_eq!(v("oa_events_total", &[("type", "job.started")]), 8.0);
    assert_eq!(v("oa_events_total", &[("type", "system.shutdown")]), 0.0);
    assert_eq!(v("oa_events_dropped_total", &[]), 0.0);
    assert_eq!(v("oa_system_errors_total", &[]), 1.0);
    assert_eq!(v("oa_uptime_seconds", &[]), 10.0);
    assert_eq!(v("oa_metrics_enabled", &[]), 1.0);
    assert_eq!(v("oa_tag_jobs_started_total", &[("tag", "images")]), 3.0);
    assert_eq!(
        v(
            "oa_tag_jobs_finished_total",
            &[("tag", WEIRD_TAG), ("outcome", "completed")]
        ),
        1.0
    );
}

#[test]
fn labels_stay_bounded() {
    let (_, text) = scripted();
    let e = parse(&text).unwrap();
    let allowed: BTreeSet<&str> = ["images", WEIRD_TAG].into_iter().collect();
    for sample in &e.samples {
        for (label, value) in &sample.labels {
            assert!(
                [
                    "priority", "outcome", "le", "state", "type", "window", "tag"
                ]
                .contains(&label.as_str()),
                "unexpected label {label}"
            );
            if label == "tag" {
                assert!(
                    allowed.contains(value.as_str()),
                    "tag {value:?} is not allow-listed"
                );
            }
            let ids = [
                "j1", "j2", "j3", "j4", "j5", "j6", "j7", "odd", "w1", "w2", "w3",
            ];
            assert!(
                !ids.contains(&value.as_str()),
                "a job or worker id as a label: {value}"
            );
        }
    }
    assert!(
        !text.contains("billing"),
        "tags off the allow-list never appear"
    );
    assert!(
        !text.contains("never-seen"),
        "allow-listed tags without jobs have no series"
    );
}
