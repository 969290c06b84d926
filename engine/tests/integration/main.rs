//! The engine's behaviour tests through its front door (SQL), in one test binary: one
//! link of DataFusion and RocksDB instead of one per file. Each module is one area; run
//! one with `cargo test --workspace --test integration -- live::` (a module path filter).
//! `subscribe_memory.rs` stays a binary of its own (its counting allocator must see only
//! its own test), as does `tidy.rs` (project hygiene, no engine).

#[macro_use]
mod common;
mod faults;

mod background_jobs;
mod cancellation;
mod cold_cleanup;
mod cold_faults;
mod cold_ownership;
mod cold_reads;
mod cold_rewrites;
mod cold_storage;
mod concurrency;
mod counters;
mod crash;
mod ddl_races;
mod drop_cleanup;
mod flush_crash;
mod hot_faults;
mod live;
mod live_resume;
mod live_slow_subscriber;
mod parallel_scan;
mod passwords;
mod prepared;
mod reopen_in_process;
mod simple_statements;
mod snapshots;
mod streamed_results;
mod transactions;
