//! End-to-end throughput of the engine (criterion): jobs created, claimed, run by a no-op
//! handler and completed, with every event delivered to four subscribers.
//!
//! Run with: `cargo bench -p oa-jobs --bench engine`. The `throughput` example prints the
//! same figures as jobs per second.

#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly")]

mod common;
use common as harness;

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harness::Mode;

const BATCH: u64 = 10_000;

fn end_to_end(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for mode in [
        Mode::Memory,
        Mode::SqliteBatched,
        Mode::SqliteSingleClaim,
        Mode::SqliteSingle,
        Mode::SqliteBatchedLogged,
    ] {
        let engine = runtime.block_on(harness::engine(mode));
        group.bench_function(mode.label(), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    total += runtime.block_on(engine.run(BATCH));
                }
                total
            });
        });
        runtime.block_on(engine.stop());
    }
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
