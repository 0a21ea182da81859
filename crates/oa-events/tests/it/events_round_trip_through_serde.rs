use chrono::{DateTime, TimeZone, Utc};
use oa_events::{Event, EventType};
use proptest::prelude::*;
use serde_json::{Map, Value};
use uuid::Uuid;

fn event_type() -> impl Strategy<Value = EventType> {
    (0..EventType::COUNT).prop_map(|i| EventType::ALL[i])
}

fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    // From 1970 to 2200, with nanoseconds.
    (0i64..7_258_118_400, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).single().unwrap())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".*", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = Event> {
    (
        any::<u128>(),
        any::<u64>(),
        event_type(),
        timestamp(),
        proptest::option::of(".*"),
        proptest::option::of(".*"),
        prop::collection::btree_map(".*", json_value(), 0..6),
    )
        .prop_map(|(id, seq, t, ts, job_id, worker_id, data)| {
            let mut event = Event::new(t)
                .with_id(Uuid::from_u128(id))
                .with_timestamp(ts);
            event.seq = seq;
            event.job_id = job_id;
            event.worker_id = worker_id;
            event.data = data.into_iter().collect::<Map<String, Value>>();
            event
        })
}

proptest! {
    #[test]
    fn any_event_survives_a_json_round_trip(event in event()) {
        let json = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &event);
        let value: Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        prop_assert_eq!(keys, ["data", "event_type", "id", "job_id", "seq", "timestamp", "worker_id"]);
        prop_assert_eq!(value["event_type"].as_str(), Some(event.event_type.as_str()));
    }
}
