//! The document's response schemas describe the real responses: every JSON body the routes
//! answer (on the scripted sequence) validates against its documented schema, no key is
//! undocumented, and every documented property shows up in some real response. So the schema
//! types written for the document cannot drift from the snapshot types that are served.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use oa_events::{Event, EventType};
use serde_json::{Map, Value};

use crate::support::{Fixture, get, open_stream};

/// A small validator for the subset of JSON Schema the document uses.
struct Validator<'a> {
    document: &'a Value,
    /// `(schema name, property)` pairs seen in real values.
    seen: BTreeSet<(String, String)>,
    errors: Vec<String>,
}

impl<'a> Validator<'a> {
    fn new(document: &'a Value) -> Self {
        Validator {
            document,
            seen: BTreeSet::new(),
            errors: Vec::new(),
        }
    }

    fn component(&self, reference: &str) -> (&'a Value, String) {
        let name = reference.strip_prefix("#/components/schemas/").unwrap();
        (
            &self.document["components"]["schemas"][name],
            name.to_owned(),
        )
    }

    fn check(&mut self, schema: &'a Value, value: &Value, at: &str, name: Option<&str>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let (resolved, name) = self.component(reference);
            return self.check(resolved, value, at, Some(&name));
        }
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let mut matched = 0;
            for option in options {
                let mut probe = Validator::new(self.document);
                probe.check(option, value, at, name);
                if probe.errors.is_empty() {
                    matched += 1;
                    self.seen.extend(probe.seen);
                }
            }
            if matched == 0 {
                self.errors.push(format!("{at}: {value} matches no option"));
            }
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            self.errors
                .push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| type_matches(t, value)) {
                self.errors.push(format!("{at}: {value} is not {types:?}"));
                return;
            }
        }
        match value {
            Value::Object(map) => self.check_object(schema, map, at, name),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{at}[{i}]"), None);
                    }
                }
            }
            _ => {}
        }
    }

    fn check_object(
        &mut self,
        schema: &'a Value,
        map: &Map<String, Value>,
        at: &str,
        name: Option<&str>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        if properties.is_none() && additional.is_none() {
            return; // A free-form object, such as an event's `data`.
        }
        for (key, value) in map {
            let here = format!("{at}.{key}");
            match (properties.and_then(|p| p.get(key)), additional) {
                (Some(property), _) => {
                    if let Some(name) = name {
                        self.seen.insert((name.to_owned(), key.clone()));
                    }
                    self.check(property, value, &here, None);
                }
                (None, Some(additional)) => self.check(additional, value, &here, None),
                (None, None) => self.errors.push(format!("{here}: undocumented key")),
            }
        }
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = required.as_str().unwrap();
            if !map.contains_key(key) {
                self.errors
                    .push(format!("{at}: documented key `{key}` is missing"));
            }
        }
    }
}

fn type_matches(t: &str, value: &Value) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// Every property of every object schema reachable from the components.
fn documented_properties(document: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        for key in schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            all.insert((name.clone(), key.clone()));
        }
    }
    all
}

#[tokio::test]
async fn every_json_response_validates_against_its_documented_schema() {
    let document = serde_json::to_value(oa_api::openapi()).unwrap();
    let fixture = Fixture::new();
    // A stream opened first receives every scripted event, to check the event schema too.
    let app = fixture.app();
    let mut stream = open_stream(&app, "/events", &[]).await;
    fixture.script();
    let mut validator = Validator::new(&document);

    for (path, operations) in document["paths"].as_object().unwrap() {
        let Some(operation) = operations.get("get") else {
            continue;
        };
        let Some(schema) =
            operation["responses"]["200"]["content"]["application/json"].get("schema")
        else {
            continue;
        };
        if path == "/openapi.json" {
            continue; // Documented as any object.
        }
        let uri = path.replace("{worker_id}", "w1");
        let answer = get(&app, &uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
        validator.check(schema, &answer.json(), &uri, None);
    }
    // The control routes (after the reads: reset zeroes the figures).
    for (path, operations) in document["paths"].as_object().unwrap() {
        let Some(operation) = operations.get("post") else {
            continue;
        };
        let schema = &operation["responses"]["200"]["content"]["application/json"]["schema"];
        let request = axum::http::Request::post(path.as_str())
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = crate::support::send(&app, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        validator.check(schema, &answer.json(), path, None);
    }
    // Error bodies.
    let error_schema = &document["components"]["schemas"]["ErrorBody"];
    let not_found = get(&app, "/workers/nobody").await.json();
    validator.check(error_schema, &not_found, "404", Some("ErrorBody"));
    // Events as the stream carries them.
    let event_schema = &document["components"]["schemas"]["Event"];
    for _ in 0..26 {
        let frame = stream.next_data_frame().await.unwrap();
        validator.check(event_schema, &frame.json(), "event", Some("Event"));
    }
    let emitted = serde_json::to_value(Event::new(EventType::SystemStartup)).unwrap();
    validator.check(event_schema, &emitted, "event", Some("Event"));

    assert!(validator.errors.is_empty(), "{:#?}", validator.errors);
    let never_seen: Vec<_> = documented_properties(&document)
        .difference(&validator.seen)
        .cloned()
        .collect();
    assert!(
        never_seen.is_empty(),
        "documented but never answered: {never_seen:?}"
    );
}

#[test]
fn the_validator_catches_drift() {
    let document = serde_json::to_value(oa_api::openapi()).unwrap();
    let schema = &document["components"]["schemas"]["ErrorBody"];
    let mut validator = Validator::new(&document);
    validator.check(
        schema,
        &serde_json::json!({"detail": "x", "code": "y", "extra": 1}),
        "e",
        None,
    );
    validator.check(schema, &serde_json::json!({"detail": "x"}), "e", None);
    validator.check(
        schema,
        &serde_json::json!({"detail": 3, "code": "y"}),
        "e",
        None,
    );
    assert_eq!(validator.errors.len(), 3, "{:#?}", validator.errors);
}
