//! The job engine of oa-jobs (crate guide: see the end of this work).

mod clock;
mod error;
mod job;
mod manager;
mod retry;
mod serde_ms;
mod status;
pub mod store;
mod worker;

pub use clock::{Clock, SharedClock, SystemClock, TokioClock};
pub use error::{Error, Result};
pub use job::{Job, JobError, LOST_KIND, LostOutcome};
pub use manager::{JobManager, JobManagerBuilder, ManagerConfig, NewJob};
pub use retry::RetryPolicy;
pub use status::{JobStatus, Priority};
pub use store::{JobStore, MemoryStore, SqliteStore, SqliteStoreOptions};
pub use worker::{
    HandlerFuture, JobContext, JobHandler, SHUTDOWN_REASON, WorkerBuilder, WorkerConfig,
    WorkerHandle, WorkerPool,
};
