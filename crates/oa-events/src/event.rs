//! The [`Event`] record, its builder methods and the [`JobEventSource`] trait.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::timestamp::context::ContextV7;
use uuid::{Timestamp, Uuid};

use crate::event_type::EventType;

/// One thing that happened in the system.
///
/// The JSON shape is `{"id","seq","event_type","timestamp","job_id","worker_id","data"}`:
/// `id` is a UUID v7 string, `event_type` the [wire name](EventType::as_str), `timestamp` an
/// RFC 3339 UTC time, `job_id`/`worker_id` a string or `null`, `data` a JSON object. When
/// deserializing, `seq`, `job_id`, `worker_id` and `data` may be absent (0, `null`, `null`, `{}`).
///
/// Invariants: `data` is always a JSON object; `seq` is 0 until an [`EventEmitter`] emits the
/// event, and then strictly increasing per emitter; `timestamp` is set when the event is
/// created (not when it is emitted), so that replayed or remote events keep their time.
///
/// [`EventEmitter`]: crate::EventEmitter
///
/// ```
/// use oa_events::{Event, EventType};
///
/// let event = Event::new(EventType::SystemError).with_data("message", "Database connection failed");
/// assert_eq!(event.data_str("message"), Some("Database connection failed"));
/// assert_eq!(event.seq, 0);
/// let json = serde_json::to_value(&event)?;
/// assert_eq!(json["event_type"], "system.error");
/// assert_eq!(json["job_id"], serde_json::Value::Null);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// A unique id (UUID v7, so ids sort by creation time).
    pub id: Uuid,
    /// The position assigned by the emitter that emitted the event: strictly increasing per
    /// emitter, 0 before the event is emitted.
    #[serde(default)]
    pub seq: u64,
    /// What happened.
    pub event_type: EventType,
    /// When the event was created, in UTC.
    pub timestamp: DateTime<Utc>,
    /// The job the event is about, if any.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The worker the event is about, if any.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// Details; for job events, the keys of [`keys`](crate::keys).
    #[serde(default)]
    pub data: Map<String, Value>,
}

impl Event {
    /// A new event of `event_type`, created now, with a fresh UUID v7, no job, no worker and
    /// empty data.
    #[must_use]
    pub fn new(event_type: EventType) -> Self {
        Event::new_at(event_type, Utc::now())
    }

    /// A new event of `event_type` created at `timestamp` (for an engine with its own clock:
    /// the same as [`new`](Self::new) then [`with_timestamp`](Self::with_timestamp), without
    /// reading the wall clock).
    #[must_use]
    pub fn new_at(event_type: EventType, timestamp: DateTime<Utc>) -> Self {
        Event {
            id: event_id(timestamp),
            seq: 0,
            event_type,
            timestamp,
            job_id: None,
            worker_id: None,
            data: Map::new(),
        }
    }

    /// A new event about the job `job_id`.
    #[must_use]
    pub fn for_job(event_type: EventType, job_id: impl Into<String>) -> Self {
        Event::new(event_type).with_job_id(job_id)
    }

    /// A new event about the worker `worker_id`.
    #[must_use]
    pub fn for_worker(event_type: EventType, worker_id: impl Into<String>) -> Self {
        Event::new(event_type).with_worker_id(worker_id)
    }

    /// A new event about `job`: its id, its worker and its public fields as `data`
    /// (see [`JobEventSource`]), then the keys of `extra`, which win over the job's own.
    ///
    /// This is the seed's `Event.from_job(event_type, job, **extra)`.
    ///
    /// ```
    /// use oa_events::{Event, EventType, JobEventSource};
    /// use serde_json::{json, Map, Value};
    ///
    /// struct Job { id: String, progress: f64 }
    ///
    /// impl JobEventSource for Job {
    ///     fn job_id(&self) -> &str { &self.id }
    ///     fn worker_id(&self) -> Option<&str> { None }
    ///     fn event_data(&self) -> Map<String, Value> {
    ///         let mut data = Map::new();
    ///         data.insert("progress".into(), json!(self.progress));
    ///         data
    ///     }
    /// }
    ///
    /// let job = Job { id: "job-123".into(), progress: 0.5 };
    /// let mut extra = Map::new();
    /// extra.insert("progress".into(), json!(0.75));
    /// let event = Event::from_job(EventType::JobProgressUpdated, &job, extra);
    /// assert_eq!(event.job_id.as_deref(), Some("job-123"));
    /// assert_eq!(event.data_f64("progress"), Some(0.75));
    /// ```
    #[must_use]
    pub fn from_job<J>(event_type: EventType, job: &J, extra: Map<String, Value>) -> Self
    where
        J: JobEventSource + ?Sized,
    {
        Event::from_job_at(event_type, job, extra, Utc::now())
    }

    /// As [`from_job`](Self::from_job), created at `timestamp` rather than now (for an
    /// engine with its own clock).
    #[must_use]
    pub fn from_job_at<J>(
        event_type: EventType,
        job: &J,
        extra: Map<String, Value>,
        timestamp: DateTime<Utc>,
    ) -> Self
    where
        J: JobEventSource + ?Sized,
    {
        let mut data = job.event_data();
        if !extra.is_empty() {
            data.extend(extra);
        }
        Event {
            job_id: Some(job.job_id().to_owned()),
            worker_id: job.worker_id().map(str::to_owned),
            data,
            ..Event::new_at(event_type, timestamp)
        }
    }

    /// Sets `data[key] = value` (builder style).
    #[must_use]
    pub fn with_data(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }

    /// Adds every key of `data`, replacing keys already present (builder style).
    #[must_use]
    pub fn with_data_map(mut self, data: Map<String, Value>) -> Self {
        self.data.extend(data);
        self
    }

    /// Sets the job id (builder style).
    #[must_use]
    pub fn with_job_id(mut self, job_id: impl Into<String>) -> Self {
        self.job_id = Some(job_id.into());
        self
    }

    /// Sets the worker id (builder style).
    #[must_use]
    pub fn with_worker_id(mut self, worker_id: impl Into<String>) -> Self {
        self.worker_id = Some(worker_id.into());
        self
    }

    /// Sets the timestamp (builder style), for replayed events and tests with fixed times.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Sets the id (builder style), for events that already have one (e.g. read from a log).
    #[must_use]
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// The event type's wire name, e.g. `job.failed`.
    #[must_use]
    pub fn wire_name(&self) -> &'static str {
        self.event_type.as_str()
    }

    /// `data[key]` if it is a string.
    #[must_use]
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// `data[key]` if it is a number (integers are converted).
    #[must_use]
    pub fn data_f64(&self, key: &str) -> Option<f64> {
        self.data.get(key).and_then(Value::as_f64)
    }

    /// `data[key]` if it is a non-negative integer.
    #[must_use]
    pub fn data_u64(&self, key: &str) -> Option<u64> {
        self.data.get(key).and_then(Value::as_u64)
    }
}

/// A fresh UUID v7 for an event created at `timestamp`.
///
/// The id's time is the event's own timestamp (no second clock read) and its counter comes
/// from a per-thread context rather than uuid's process-wide one, whose lock the engine's
/// threads would otherwise take for every event. Ids stay unique (the context's counter plus
/// random bits) and sort by creation time to the millisecond; within one thread they strictly
/// increase. Order within a millisecond across threads is the emitter's `seq`, not the id.
fn event_id(timestamp: DateTime<Utc>) -> Uuid {
    thread_local! {
        static CONTEXT: ContextV7 = const { ContextV7::new() };
    }
    // A timestamp before 1970 cannot be written in a v7 id: it gets the epoch's.
    let seconds = u64::try_from(timestamp.timestamp()).unwrap_or(0);
    let nanos = timestamp.timestamp_subsec_nanos().min(999_999_999);
    CONTEXT.with(|context| Uuid::new_v7(Timestamp::from_unix(context, seconds, nanos)))
}

/// Something an event can be made from with [`Event::from_job`]: oa-jobs' `Job` implements it,
/// so that this crate does not depend on the job engine.
///
/// `event_data` returns the job's public fields under the keys of [`keys`](crate::keys)
/// (`name`, `status`, `priority`, `tags`, `attempt`, ...); consumers rely on those keys.
pub trait JobEventSource {
    /// The job's id.
    fn job_id(&self) -> &str;
    /// The worker running the job, if any.
    fn worker_id(&self) -> Option<&str>;
    /// The job's public fields as a JSON object.
    fn event_data(&self) -> Map<String, Value>;
}

impl<T: JobEventSource + ?Sized> JobEventSource for &T {
    fn job_id(&self) -> &str {
        (**self).job_id()
    }

    fn worker_id(&self) -> Option<&str> {
        (**self).worker_id()
    }

    fn event_data(&self) -> Map<String, Value> {
        (**self).event_data()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    /// The milliseconds since the epoch a v7 id carries.
    fn id_millis(id: Uuid) -> i64 {
        let (seconds, nanos) = id.get_timestamp().unwrap().to_unix();
        i64::try_from(seconds).unwrap() * 1000 + i64::from(nanos / 1_000_000)
    }

    #[test]
    fn event_ids_carry_the_event_time_and_increase_on_a_thread() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        // Many events in the same millisecond, then one in the next: ids strictly increase, all
        // distinct, each carrying its event's millisecond.
        let mut ids: Vec<Uuid> = (0..10_000)
            .map(|_| Event::new_at(EventType::JobQueued, at).id)
            .collect();
        let later = at + chrono::TimeDelta::milliseconds(1);
        ids.push(Event::new_at(EventType::JobQueued, later).id);
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert_eq!(id_millis(ids[0]), at.timestamp_millis());
        assert_eq!(id_millis(ids[10_000]), later.timestamp_millis());
        // Ids made on other threads at the same time are distinct from these.
        let others: Vec<Uuid> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        (0..1000)
                            .map(|_| Event::new_at(EventType::JobQueued, at).id)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| handle.join().unwrap())
                .collect()
        });
        let mut all: std::collections::HashSet<Uuid> = ids.into_iter().collect();
        assert!(others.into_iter().all(|id| all.insert(id)));
        // Before 1970 a v7 id cannot say when: it carries the epoch.
        let old = Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap();
        let id = std::thread::spawn(move || Event::new_at(EventType::JobQueued, old).id)
            .join()
            .unwrap();
        assert_eq!(id_millis(id), 0);
    }

    struct FakeJob;

    impl JobEventSource for FakeJob {
        fn job_id(&self) -> &str {
            "job-123"
        }
        fn worker_id(&self) -> Option<&str> {
            Some("worker-7")
        }
        fn event_data(&self) -> Map<String, Value> {
            let Value::Object(map) = json!({"name": "resize", "progress": 0.5, "attempt": 1})
            else {
                unreachable!("a json! object literal is an object")
            };
            map
        }
    }

    #[test]
    fn new_sets_a_v7_id_the_current_time_and_nothing_else() {
        let before = Utc::now();
        let event = Event::new(EventType::SystemStartup);
        let after = Utc::now();
        assert_eq!(event.id.get_version_num(), 7);
        assert!(before <= event.timestamp && event.timestamp <= after);
        assert_eq!(event.seq, 0);
        assert_eq!(event.job_id, None);
        assert_eq!(event.worker_id, None);
        assert!(event.data.is_empty());
        assert_ne!(event.id, Event::new(EventType::SystemStartup).id);
    }

    #[test]
    fn from_job_takes_ids_and_fields_and_extra_keys_win() {
        let mut extra = Map::new();
        extra.insert("progress".into(), json!(0.75));
        extra.insert("eta_seconds".into(), json!(3));
        let event = Event::from_job(EventType::JobProgressUpdated, &FakeJob, extra);
        assert_eq!(event.job_id.as_deref(), Some("job-123"));
        assert_eq!(event.worker_id.as_deref(), Some("worker-7"));
        assert_eq!(event.data_str("name"), Some("resize"));
        assert_eq!(event.data_f64("progress"), Some(0.75));
        assert_eq!(event.data_u64("eta_seconds"), Some(3));
        assert_eq!(event.data_u64("attempt"), Some(1));
        let by_ref: &dyn JobEventSource = &FakeJob;
        let again = Event::from_job(EventType::JobStarted, &by_ref, Map::new());
        assert_eq!(again.data_f64("progress"), Some(0.5));
    }

    #[test]
    fn serializes_to_the_documented_shape() {
        let ts = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let id = Uuid::parse_str("01900000-0000-7000-8000-000000000001").unwrap();
        let event = Event::for_job(EventType::JobFailed, "job-1")
            .with_id(id)
            .with_timestamp(ts)
            .with_data(
                "error",
                json!({"kind": "timeout", "message": "took too long"}),
            );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            json!({
                "id": "01900000-0000-7000-8000-000000000001",
                "seq": 0,
                "event_type": "job.failed",
                "timestamp": "2026-11-28T12:00:00Z",
                "job_id": "job-1",
                "worker_id": null,
                "data": {"error": {"kind": "timeout", "message": "took too long"}}
            })
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn deserialize_defaults_optional_fields_and_rejects_bad_ones() {
        let minimal = json!({
            "id": "01900000-0000-7000-8000-000000000001",
            "event_type": "worker.heartbeat",
            "timestamp": "2026-11-28T12:00:00.5+01:00"
        });
        let event: Event = serde_json::from_value(minimal).unwrap();
        assert_eq!(event.seq, 0);
        assert!(event.data.is_empty());
        assert_eq!(
            event.timestamp,
            Utc.with_ymd_and_hms(2026, 11, 28, 11, 0, 0).unwrap()
                + chrono::Duration::milliseconds(500)
        );

        let unknown_type = json!({
            "id": "01900000-0000-7000-8000-000000000001",
            "event_type": "job.exploded",
            "timestamp": "2026-11-28T12:00:00Z"
        });
        let err = serde_json::from_value::<Event>(unknown_type).unwrap_err();
        assert!(err.to_string().contains("unknown event type"), "{err}");

        let data_not_object = json!({
            "id": "01900000-0000-7000-8000-000000000001",
            "event_type": "job.failed",
            "timestamp": "2026-11-28T12:00:00Z",
            "data": [1, 2]
        });
        assert!(serde_json::from_value::<Event>(data_not_object).is_err());
    }

    #[test]
    fn builder_methods_set_their_fields() {
        let mut more = Map::new();
        more.insert("b".into(), json!(2));
        more.insert("a".into(), json!("replaced"));
        let event = Event::for_worker(EventType::WorkerOffline, "w-1")
            .with_data("a", 1)
            .with_data_map(more)
            .with_job_id("j-9");
        assert_eq!(event.worker_id.as_deref(), Some("w-1"));
        assert_eq!(event.job_id.as_deref(), Some("j-9"));
        assert_eq!(event.data_str("a"), Some("replaced"));
        assert_eq!(event.data_u64("b"), Some(2));
        assert_eq!(event.data_str("b"), None);
        assert_eq!(event.wire_name(), "worker.offline");
    }
}
