//! Memory follows the work, not the table: a subscription with `last_rows = 10` on a
//! 1M-row table (hot and flushed rows) keeps only a batch and its ten rows at a time. A
//! counting global allocator (this test binary only) measures the peak of Rust-side
//! allocation while the subscription opens (RocksDB's own memory is not counted; it is
//! bounded by its block cache).

#[path = "integration/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{TestEngine, run_all};
use engine::QueryResult;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ROWS: i64 = 1_000_000;
const CHUNK: i64 = 20_000;
/// What opening the subscription may allocate at its peak: a few batches of 8,192 rows
/// and the merge's buffers. The table itself is ~60 MiB as Arrow arrays.
const BOUND_BYTES: usize = 24 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_rows_on_a_million_rows_stays_under_a_fixed_bound() {
    let test = TestEngine::new();
    let mut session = test.session();
    run_all(&mut session, &["CREATE TABLE big (id BIGINT PRIMARY KEY, body TEXT)"]).await;
    let mut start = 0;
    while start < ROWS {
        let values: Vec<String> = (start..start + CHUNK).map(|id| format!("({id}, 'row {id:>12} of the big table')")).collect();
        session.execute(&format!("INSERT INTO big VALUES {}", values.join(", "))).await.expect("insert");
        start += CHUNK;
        if start == ROWS / 2 {
            // Half the rows flushed, half hot: both tiers are read.
            run_all(&mut session, &["FLUSH TABLE big"]).await;
        }
    }
    let baseline = CURRENT.load(Ordering::SeqCst);
    PEAK.store(baseline, Ordering::SeqCst);
    let result = session.execute("SUBSCRIBE TO big OPTIONS (last_rows = 10)").await.expect("subscribe");
    let peak = PEAK.load(Ordering::SeqCst) - baseline;
    let QueryResult::Subscription(mut subscription) = result else { panic!("not a subscription") };
    let mut seqs = Vec::new();
    while let Some(event) = subscription.try_next() {
        if let Some(seq) = event.seq {
            seqs.push(seq);
        }
    }
    // The newest ten rows, oldest first: the last ten inserted (`_seq` = row number).
    let last = ROWS as u64;
    assert_eq!(seqs, ((last - 9)..=last).collect::<Vec<_>>());
    assert!(peak < BOUND_BYTES, "opening the subscription allocated {} MiB at its peak", peak >> 20);
    eprintln!("peak allocation while subscribing: {:.1} MiB", peak as f64 / (1 << 20) as f64);
}
