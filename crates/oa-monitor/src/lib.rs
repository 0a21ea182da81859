//! # oa-monitor: the Monitor
//!
//! This crate will own the `Monitor`: it attaches the oa-metrics collectors to an
//! [`oa_events::EventEmitter`], samples the queue depth from a source it is given, answers
//! `get_complete_status()` with the seed's shape, and implements the query and control traits.
//!
//! **Status: not built yet.** This library compiles and is empty on purpose: it is the subject
//! of its own issue ("Metrics and the monitor: oa-metrics and oa-monitor").
//!
//! ## Invariants
//! - The monitor never loses an event it was given.
