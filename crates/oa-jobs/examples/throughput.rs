//! End-to-end jobs per second for each store, printed: create → claim → run a no-op handler →
//! complete, with every event delivered to four subscribers.
//!
//! Run with: `cargo run --release -p oa-jobs --example throughput [jobs] [memory|sqlite]`
//!
//! The first three modes run without the durable event log (as issue 3 defines them); the
//! last one writes every event to SQLite's log too, to show what the log costs.

#![allow(clippy::print_stdout, reason = "printing the figures is the point")]
#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "../benches/common/mod.rs"]
mod harness;

use harness::Mode;

// The `oa` binary uses mimalloc too: the engine allocates many small objects per job (events
// are JSON objects), and glibc's allocator contends across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let jobs: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("{jobs} jobs per run, 5 runs, median shown (2 runtime threads)");
    let only = std::env::args().nth(2);
    for mode in [
        Mode::Memory,
        Mode::SqliteBatched,
        Mode::SqliteSingleClaim,
        Mode::SqliteSingle,
        Mode::SqliteBatchedLogged,
    ] {
        if only
            .as_deref()
            .is_some_and(|only| !mode.label().starts_with(only))
        {
            continue;
        }
        let per_mode = if matches!(mode, Mode::SqliteSingle | Mode::SqliteSingleClaim) {
            jobs / 4
        } else {
            jobs
        };
        let mut rates: Vec<f64> = runtime.block_on(async {
            let engine = harness::engine(mode).await;
            // One warm-up run, then five measured.
            engine.run(per_mode / 10).await;
            let mut rates = Vec::new();
            for _ in 0..5 {
                let took = engine.run(per_mode).await;
                rates.push(per_mode as f64 / took.as_secs_f64());
            }
            engine.stop().await;
            rates
        });
        rates.sort_by(f64::total_cmp);
        println!(
            "{:<40} median {:>9.0} jobs/s  (min {:>9.0}, max {:>9.0})",
            mode.label(),
            rates[2],
            rates[0],
            rates[4]
        );
    }
}
