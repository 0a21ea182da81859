//! The `oa` command (placeholder until the command issue lands).
fn main() {}
