//! The queue-depth source is sampled at once and then on every interval, its errors are
//! counted without losing the last depth, and the task stops with the monitor.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oa_events::EventEmitter;
use oa_metrics::SystemQuery;
use oa_monitor::{Monitor, MonitorError};
use tokio::sync::{mpsc, oneshot};

/// A source that reports each call on `calls` and returns `values[call]` (the last one after).
fn source(
    values: Vec<Result<u64, String>>,
    calls: mpsc::UnboundedSender<usize>,
) -> impl Fn() -> std::future::Ready<Result<u64, String>> + Send + Sync + 'static {
    let next = AtomicU64::new(0);
    move || {
        let call = usize::try_from(next.fetch_add(1, Ordering::SeqCst)).unwrap();
        let _ = calls.send(call);
        let value = values.get(call).or(values.last()).cloned().unwrap();
        std::future::ready(value)
    }
}

/// A call of a source that waits for the test's answer.
type Call = (usize, oneshot::Sender<Result<u64, String>>);

/// A source whose every call is reported on `calls` and answered by the test.
fn answered_source(
    calls: mpsc::UnboundedSender<Call>,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<u64, String>> + Send>>
+ Send
+ Sync
+ 'static {
    let next = AtomicU64::new(0);
    move || {
        let call = usize::try_from(next.fetch_add(1, Ordering::SeqCst)).unwrap();
        let (answer, answered) = oneshot::channel();
        let _ = calls.send((call, answer));
        Box::pin(async move { answered.await.unwrap_or_else(|_| Err("no answer".into())) })
    }
}

#[tokio::test(start_paused = true)]
async fn samples_at_once_then_every_interval() {
    let emitter = EventEmitter::new();
    let (calls, mut called) = mpsc::unbounded_channel::<Call>();
    let monitor = Monitor::builder()
        .queue_depth_source(Duration::from_secs(5), answered_source(calls))
        .build(&emitter)
        .unwrap();
    let start = tokio::time::Instant::now();
    let answers = [Ok(7), Ok(3), Err("database down".to_owned()), Ok(9)];
    let expected_depths = [7, 3, 3, 9];
    let mut pending = called.recv().await.unwrap();
    for (i, (answer, depth)) in answers.into_iter().zip(expected_depths).enumerate() {
        let (call, respond) = pending;
        assert_eq!(call, i);
        let ticks = u32::try_from(i).unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(5) * ticks,
            "at once, then every 5 s"
        );
        respond.send(answer).unwrap();
        // The next call comes only once this answer has been applied.
        pending = called.recv().await.unwrap();
        assert_eq!(monitor.system().queue_depth, depth, "after answer {i}");
    }
    assert_eq!(
        monitor.queue_depth_errors(),
        1,
        "an error keeps the last depth and is counted"
    );
    assert_eq!(monitor.system().max_queue_depth, 9);
}

#[tokio::test(start_paused = true)]
async fn the_sampler_stops_with_the_monitor() {
    let emitter = EventEmitter::new();
    let (calls, mut called) = mpsc::unbounded_channel();
    let monitor = Monitor::new(&emitter);
    monitor
        .sample_queue_depth(Duration::from_secs(1), source(vec![Ok(1)], calls))
        .unwrap();
    assert_eq!(called.recv().await, Some(0));
    drop(monitor);
    // The task ends, dropping the source and its sender: the channel closes.
    assert_eq!(called.recv().await, None);
}

#[tokio::test(start_paused = true)]
async fn a_new_source_replaces_the_old_and_stopping_keeps_the_depth() {
    let emitter = EventEmitter::new();
    let monitor = Monitor::new(&emitter);
    let (first_calls, mut first) = mpsc::unbounded_channel();
    monitor
        .sample_queue_depth(Duration::from_secs(1), source(vec![Ok(1)], first_calls))
        .unwrap();
    assert_eq!(first.recv().await, Some(0));
    let (second_calls, mut second) = mpsc::unbounded_channel();
    monitor
        .sample_queue_depth(Duration::from_secs(1), source(vec![Ok(2)], second_calls))
        .unwrap();
    assert_eq!(first.recv().await, None, "the first source was stopped");
    assert_eq!(second.recv().await, Some(0));
    assert_eq!(second.recv().await, Some(1));
    assert_eq!(monitor.system().queue_depth, 2);
    monitor.stop_queue_depth_sampling();
    assert_eq!(second.recv().await, None);
    assert_eq!(monitor.system().queue_depth, 2);
    monitor.update_queue_depth(4);
    assert_eq!(
        monitor.system().queue_depth,
        4,
        "the manual update still works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_may_return_plain_counts() {
    let emitter = EventEmitter::new();
    let (done, mut sampled) = mpsc::unbounded_channel();
    let monitor = Arc::new(Monitor::new(&emitter));
    monitor
        .sample_queue_depth(Duration::from_millis(10), move || {
            let done = done.clone();
            async move {
                let _ = done.send(());
                11usize
            }
        })
        .unwrap();
    sampled.recv().await;
    sampled.recv().await;
    assert_eq!(monitor.system().queue_depth, 11);
}

#[test]
fn sampling_needs_a_runtime_and_a_positive_interval() {
    let emitter = EventEmitter::new();
    let monitor = Monitor::new(&emitter);
    let err = monitor
        .sample_queue_depth(Duration::from_secs(1), || async { 1u64 })
        .unwrap_err();
    assert_eq!(
        err,
        MonitorError::NoRuntime {
            operation: "Monitor::sample_queue_depth"
        }
    );
    assert!(err.to_string().contains("Tokio runtime"));
    let built = Monitor::builder()
        .queue_depth_source(Duration::from_secs(1), || async { 1u64 })
        .build(&emitter);
    assert!(matches!(built, Err(MonitorError::NoRuntime { .. })));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let zero = monitor.sample_queue_depth(Duration::ZERO, || async { 1u64 });
        assert_eq!(zero, Err(MonitorError::ZeroInterval));
    });
}
