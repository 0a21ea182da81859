//! [`ResponseCache`]: rendered bodies of the parameterless read routes, kept for a short time.
//!
//! Rendering `GET /status` with 100 workers means serializing about 50 KB of JSON (about
//! 100 µs of CPU); a dashboard fleet or a scraper polling it hundreds of times a second would
//! spend the machine on identical bytes. Each cached route keeps its last body for
//! [`ApiConfig::response_cache_ttl`](crate::ApiConfig::response_cache_ttl) (100 ms by
//! default): a reader sees figures at most that old. A control action clears the cache, so a
//! reset or a disable shows at once. A zero TTL turns the cache off.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::time::Instant;

/// The routes whose body is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cached {
    Status,
    JobsSummary,
    JobsTags,
    JobsPriorities,
    JobsRunning,
    Workers,
    System,
    SystemEvents,
    Metrics,
}

impl Cached {
    const COUNT: usize = 9;

    fn index(self) -> usize {
        self as usize
    }
}

/// One rendered body and when it was rendered.
#[derive(Debug, Clone)]
struct Entry {
    rendered_at: Instant,
    body: Bytes,
}

/// The cache: one slot per cached route.
#[derive(Debug)]
pub(crate) struct ResponseCache {
    ttl: Duration,
    slots: [Mutex<Option<Entry>>; Cached::COUNT],
}

impl ResponseCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        ResponseCache {
            ttl,
            slots: std::array::from_fn(|_| Mutex::new(None)),
        }
    }

    /// The body of `route`: the cached one while it is younger than the TTL, else `render`'s
    /// (which is then cached). Concurrent readers of a stale slot wait for one render instead
    /// of each rendering.
    pub(crate) fn get_or_render(&self, route: Cached, render: impl FnOnce() -> Bytes) -> Bytes {
        if self.ttl.is_zero() {
            return render();
        }
        let Some(slot) = self.slots.get(route.index()) else {
            return render();
        };
        // A panic while rendering leaves the slot as it was: a whole entry or none.
        let mut entry = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if let Some(cached) = entry.as_ref()
            && now.duration_since(cached.rendered_at) < self.ttl
        {
            return cached.body.clone();
        }
        let body = render();
        *entry = Some(Entry {
            rendered_at: now,
            body: body.clone(),
        });
        body
    }

    /// Forgets every cached body (after a control action).
    pub(crate) fn clear(&self) {
        for slot in &self.slots {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}

/// `value` as a JSON body.
pub(crate) fn json_bytes<T: Serialize + ?Sized>(value: &T) -> Bytes {
    // The snapshot types serialize infallibly (string keys, numbers, strings); an empty object
    // is a safe fallback.
    serde_json::to_vec(value).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from)
}

/// A 200 response with `body` and `content_type`.
pub(crate) fn respond(body: Bytes, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bodies_are_reused_within_the_ttl_and_rendered_again_after() {
        let cache = ResponseCache::new(Duration::from_millis(100));
        let render = |text: &'static str| move || Bytes::from_static(text.as_bytes());
        assert_eq!(cache.get_or_render(Cached::Status, render("a")), "a");
        assert_eq!(cache.get_or_render(Cached::Status, render("b")), "a");
        // Another route has its own slot.
        assert_eq!(cache.get_or_render(Cached::Workers, render("w")), "w");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(cache.get_or_render(Cached::Status, render("c")), "c");
        cache.clear();
        assert_eq!(cache.get_or_render(Cached::Status, render("d")), "d");
        assert_eq!(cache.get_or_render(Cached::Workers, render("x")), "x");
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_ttl_turns_the_cache_off() {
        let cache = ResponseCache::new(Duration::ZERO);
        assert_eq!(
            cache.get_or_render(Cached::Status, || Bytes::from_static(b"a")),
            "a"
        );
        assert_eq!(
            cache.get_or_render(Cached::Status, || Bytes::from_static(b"b")),
            "b"
        );
    }
}
