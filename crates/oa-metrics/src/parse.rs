//! Reading event data: the one place where the data keys of [`oa_events::keys`] are parsed.
//!
//! Every reader returns [`Malformed`] when a key the collectors need is missing or has the
//! wrong type; optional keys may be absent (or `null`) but not mistyped.

use chrono::{DateTime, Utc};
use oa_events::{Event, keys};
use serde_json::Value;

use crate::snapshot::JobErrorInfo;
use crate::types::Priority;

/// The marker of an event the collectors cannot use; it is counted, never raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// The result of a reader.
pub(crate) type Parsed<T> = Result<T, Malformed>;

/// How many tags one job may carry; more makes the event malformed (it bounds the work and
/// memory per event).
pub(crate) const MAX_TAGS_PER_JOB: usize = 64;

/// A present, non-null key.
fn present<'a>(event: &'a Event, key: &str) -> Option<&'a Value> {
    event.data.get(key).filter(|value| !value.is_null())
}

/// A required string.
pub(crate) fn required_str<'a>(event: &'a Event, key: &str) -> Parsed<&'a str> {
    event.data.get(key).and_then(Value::as_str).ok_or(Malformed)
}

/// An optional string: absent or `null` is `None`, another type is malformed.
pub(crate) fn optional_str<'a>(event: &'a Event, key: &str) -> Parsed<Option<&'a str>> {
    match present(event, key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Malformed),
    }
}

/// An optional non-negative integer that fits `T`.
pub(crate) fn optional_uint<T: TryFrom<u64>>(event: &Event, key: &str) -> Parsed<Option<T>> {
    match present(event, key) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|number| T::try_from(number).ok())
            .map(Some)
            .ok_or(Malformed),
    }
}

/// The required `priority`.
pub(crate) fn priority(event: &Event) -> Parsed<Priority> {
    Priority::from_wire_name(required_str(event, keys::PRIORITY)?).ok_or(Malformed)
}

/// The optional `tags`: absent or `null` is no tag; otherwise an array of at most
/// [`MAX_TAGS_PER_JOB`] strings.
pub(crate) fn tags(event: &Event) -> Parsed<&[Value]> {
    match present(event, keys::TAGS) {
        None => Ok(&[]),
        Some(Value::Array(tags))
            if tags.len() <= MAX_TAGS_PER_JOB && tags.iter().all(Value::is_string) =>
        {
            Ok(tags)
        }
        Some(_) => Err(Malformed),
    }
}

/// The optional `attempt`: 1-based.
pub(crate) fn attempt(event: &Event) -> Parsed<Option<u32>> {
    match optional_uint::<u32>(event, keys::ATTEMPT)? {
        Some(0) => Err(Malformed),
        attempt => Ok(attempt),
    }
}

/// Maps with at most this many keys are searched by a linear scan in [`hot_key`].
const SCAN_KEYS: usize = 16;

/// The value of `key` in a small map, found by a linear scan that compares lengths before
/// bytes (an inlined comparison with a constant key), which beats the `BTreeMap` search's
/// ordered comparisons (one `memcmp` call per key visited) on the engine's eleven keys. Larger
/// maps, which other emitters may send, use the search.
#[inline]
fn hot_key<'a>(event: &'a Event, key: &str) -> Option<&'a Value> {
    if event.data.len() <= SCAN_KEYS {
        event
            .data
            .iter()
            .find_map(|(name, value)| (name == key).then_some(value))
    } else {
        event.data.get(key)
    }
}

/// The required `progress`, between 0.0 and 1.0 (read on every progress event: the hot path).
pub(crate) fn progress(event: &Event) -> Parsed<f64> {
    hot_key(event, keys::PROGRESS)
        .and_then(Value::as_f64)
        .filter(|progress| (0.0..=1.0).contains(progress))
        .ok_or(Malformed)
}

/// An optional RFC 3339 time, as microseconds since the epoch.
pub(crate) fn optional_time_micros(event: &Event, key: &str) -> Parsed<Option<i64>> {
    match optional_str(event, key)? {
        None => Ok(None),
        Some(text) => parse_time(text)
            .map(|time| Some(time.timestamp_micros()))
            .ok_or(Malformed),
    }
}

/// Parses an RFC 3339 time.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    parse_utc_fast(text).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.with_timezone(&Utc))
    })
}

/// The fast path of [`parse_time`] for the UTC forms the engine writes
/// (`2026-01-01T12:00:00Z`, with an optional fraction, or `+00:00`); `None` sends anything
/// else to chrono's full parser.
fn parse_utc_fast(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes.get(range)?.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !separators.iter().all(|&(at, c)| bytes.get(at) == Some(&c)) {
        return None;
    }
    let year = i32::try_from(number(0..4)?).ok()?;
    let (month, day) = (number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let mut at = 19;
    let mut micros = 0;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let digits = at - start;
        if digits == 0 {
            return None;
        }
        let kept = digits.min(6);
        micros = number(start..start + kept)? * 10u32.pow(u32::try_from(6 - kept).ok()?);
    }
    if !matches!(&text[at..], "Z" | "+00:00") {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    let time = chrono::NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    Some(date.and_time(time).and_utc())
}

/// The optional `error`: `{kind, message}`; a bare string is read as the message of an error
/// of kind `error`. Anything else is ignored (the error is informative only).
pub(crate) fn error(event: &Event) -> Option<JobErrorInfo> {
    match present(event, keys::ERROR)? {
        Value::Object(error) => {
            let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default();
            Some(JobErrorInfo {
                kind: text("kind").to_owned(),
                message: text("message").to_owned(),
            })
        }
        Value::String(message) => Some(JobErrorInfo {
            kind: "error".to_owned(),
            message: message.clone(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use oa_events::EventType;
    use serde_json::json;

    use super::*;

    fn event(data: Value) -> Event {
        let Value::Object(map) = data else {
            unreachable!("tests pass objects")
        };
        Event::new(EventType::JobStarted).with_data_map(map)
    }

    #[test]
    fn required_and_optional_keys() {
        let e = event(json!({"name": "a", "priority": "high", "n": null, "x": 3}));
        assert_eq!(required_str(&e, "name"), Ok("a"));
        assert_eq!(required_str(&e, "missing"), Err(Malformed));
        assert_eq!(required_str(&e, "x"), Err(Malformed));
        assert_eq!(optional_str(&e, "n"), Ok(None));
        assert_eq!(optional_str(&e, "missing"), Ok(None));
        assert_eq!(optional_str(&e, "x"), Err(Malformed));
        assert_eq!(optional_uint::<u32>(&e, "x"), Ok(Some(3)));
        assert_eq!(optional_uint::<u8>(&e, "name"), Err(Malformed));
        assert_eq!(priority(&e), Ok(Priority::High));
        assert_eq!(
            priority(&event(json!({"priority": "urgent"}))),
            Err(Malformed)
        );
        assert_eq!(priority(&event(json!({}))), Err(Malformed));
    }

    #[test]
    fn tags_attempt_progress() {
        assert_eq!(tags(&event(json!({}))), Ok(&[][..]));
        assert_eq!(
            tags(&event(json!({"tags": ["a", "b"]}))).map(<[Value]>::len),
            Ok(2)
        );
        assert_eq!(tags(&event(json!({"tags": ["a", 1]}))), Err(Malformed));
        assert_eq!(tags(&event(json!({"tags": "a"}))), Err(Malformed));
        let many: Vec<String> = (0..=MAX_TAGS_PER_JOB).map(|i| i.to_string()).collect();
        assert_eq!(tags(&event(json!({ "tags": many }))), Err(Malformed));
        assert_eq!(attempt(&event(json!({"attempt": 2}))), Ok(Some(2)));
        assert_eq!(attempt(&event(json!({"attempt": 0}))), Err(Malformed));
        assert_eq!(attempt(&event(json!({"attempt": -1}))), Err(Malformed));
        assert_eq!(attempt(&event(json!({}))), Ok(None));
        assert_eq!(progress(&event(json!({"progress": 0.5}))), Ok(0.5));
        assert_eq!(progress(&event(json!({"progress": 1}))), Ok(1.0));
        assert_eq!(progress(&event(json!({"progress": 75}))), Err(Malformed));
        assert_eq!(progress(&event(json!({"progress": "0.5"}))), Err(Malformed));
    }

    #[test]
    fn progress_is_found_in_small_and_large_maps() {
        for keys in [0, SCAN_KEYS - 1, SCAN_KEYS, 100] {
            for progress_key in ["progress", "progres", "progresss", "Progress"] {
                let mut data = serde_json::Map::new();
                for i in 0..keys {
                    data.insert(format!("key-{i:03}"), json!(i));
                }
                data.insert(progress_key.to_owned(), json!(0.25));
                let expected = if progress_key == "progress" {
                    Ok(0.25)
                } else {
                    Err(Malformed)
                };
                assert_eq!(
                    progress(&event(Value::Object(data))),
                    expected,
                    "{keys} other keys, {progress_key}"
                );
            }
        }
    }

    #[test]
    fn the_fast_time_parser_agrees_with_chrono() {
        for text in [
            "2026-01-01T00:00:00Z",
            "2026-11-28T12:34:56.5Z",
            "2026-11-28T12:34:56.123456Z",
            "2026-11-28T12:34:56.123456789Z",
            "2026-11-28T12:34:56+00:00",
            "2026-11-28T12:34:56.25+01:00",
            "2026-11-28t12:34:56z",
            "1999-12-31T23:59:60Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc).timestamp_micros());
            assert_eq!(
                parse_time(text).map(|t| t.timestamp_micros()),
                chrono,
                "{text}"
            );
            assert!(chrono.is_some(), "{text}");
        }
        for bad in [
            "",
            "2026-01-01",
            "2026-02-30T00:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00",
            "x026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(
            parse_utc_fast("2026-11-28T12:34:56.25+01:00"),
            None,
            "other offsets go to chrono"
        );
    }

    #[test]
    fn times_and_errors() {
        let e = event(json!({"t": "2026-01-01T00:00:01.5Z", "bad": "yesterday", "n": null}));
        assert_eq!(
            optional_time_micros(&e, "t"),
            Ok(Some(1_767_225_601_500_000))
        );
        assert_eq!(optional_time_micros(&e, "bad"), Err(Malformed));
        assert_eq!(optional_time_micros(&e, "n"), Ok(None));
        let failed = event(json!({"error": {"kind": "timeout", "message": "slow"}}));
        assert_eq!(
            error(&failed),
            Some(JobErrorInfo {
                kind: "timeout".into(),
                message: "slow".into()
            })
        );
        let bare = event(json!({"error": "boom"}));
        assert_eq!(error(&bare).map(|e| e.kind), Some("error".into()));
        assert_eq!(error(&event(json!({"error": 3}))), None);
    }
}
