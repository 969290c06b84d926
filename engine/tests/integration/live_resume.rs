//! Resume is exact: subscribers that are killed (dropped, `KILL LIVE QUERY`, or ended for
//! falling behind) at random points while writers run, and resume with `from_seq` = the
//! last `_seq` they saw, receive every change once, in `_seq` order.
//!
//! Writers own disjoint keys of a SHARED table and read back every version they write
//! (`_seq > last`), which gives the table's full history; they also append to a STREAM
//! table. The concatenated events must then be, for the STREAM table, exactly its
//! history; for the SHARED table, the history minus versions a later version of the same
//! key replaced before a resume read it (a resume returns current rows), each event equal
//! to the history's version at its `_seq` (an update's old row equal to the version
//! before it), and applying them must give the table's final rows.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::TestEngine;
use engine::ObjectRef;
use engine::exports::arrow::array::{Array, AsArray, RecordBatch};
use engine::exports::arrow::datatypes::Int32Type;
use engine::{EventKind, LiveEvent, QueryResult, Session, SubscribeRequest};

const WRITERS: u64 = 3;
const OPS_PER_WRITER: u64 = 400;
const KEYS_PER_WRITER: u64 = 12;

/// A row version: (key or writer, value) and whether it is a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    key: i32,
    value: i32,
    deleted: bool,
}

#[derive(Debug, Clone)]
struct Seen {
    kind: EventKind,
    seq: u64,
    row: (i32, i32),
    old: Option<(i32, i32)>,
}

/// xorshift: a seeded sequence, the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn pair(batch: &RecordBatch) -> (i32, i32) {
    let value = |i: usize| {
        let column = batch.column(i).as_primitive::<Int32Type>();
        if column.is_null(0) { i32::MIN } else { column.value(0) }
    };
    (value(0), value(1))
}

fn rows(result: QueryResult) -> Vec<RecordBatch> {
    match result {
        QueryResult::Rows { batches, .. } => batches,
        other => panic!("expected rows, got {other:?}"),
    }
}

/// The rows of a `key, value, _seq [, _deleted]` query as versions by `_seq`.
fn versions(result: QueryResult) -> Vec<(u64, Version)> {
    let mut out = Vec::new();
    for batch in rows(result) {
        for i in 0..batch.num_rows() {
            let seq = batch.column(2).as_primitive::<engine::exports::arrow::datatypes::Int64Type>().value(i) as u64;
            let version = Version {
                key: batch.column(0).as_primitive::<Int32Type>().value(i),
                value: batch.column(1).as_primitive::<Int32Type>().value(i),
                deleted: batch.num_columns() > 3 && batch.column(3).as_boolean().value(i),
            };
            out.push((seq, version));
        }
    }
    out
}

/// Runs one writer: random inserts, updates and deletes of its own keys, each read back
/// with its `_seq`, and one STREAM row per operation.
async fn write(mut session: Session, writer: u64, progress: Arc<AtomicU64>) -> (Vec<(u64, Version)>, Vec<(u64, Version)>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (writer + 1));
    let low = (writer * 100) as i32;
    let mut present = vec![false; KEYS_PER_WRITER as usize];
    let (mut table_history, mut stream_history) = (Vec::new(), Vec::new());
    let (mut last, mut last_stream) = (0u64, 0u64);
    for op in 0..OPS_PER_WRITER as i32 {
        let slot = rng.below(KEYS_PER_WRITER) as usize;
        let key = low + slot as i32;
        let sql = if !present[slot] {
            present[slot] = true;
            format!("INSERT INTO t VALUES ({key}, {op})")
        } else if rng.below(3) == 0 {
            present[slot] = false;
            format!("DELETE FROM t WHERE id = {key}")
        } else {
            format!("UPDATE t SET v = {op} WHERE id = {key}")
        };
        session.execute(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        session.execute(&format!("INSERT INTO s VALUES ({writer}, {op})")).await.unwrap();
        let read = format!(
            "SELECT id, v, _seq, _deleted FROM t WHERE id >= {low} AND id < {} AND _seq > {last} ORDER BY _seq",
            low + KEYS_PER_WRITER as i32
        );
        for (seq, version) in versions(session.execute(&read).await.unwrap()) {
            table_history.push((seq, version));
            last = last.max(seq);
        }
        let read = format!("SELECT w, n, _seq FROM s WHERE w = {writer} AND _seq > {last_stream} ORDER BY _seq");
        for (seq, version) in versions(session.execute(&read).await.unwrap()) {
            stream_history.push((seq, version));
            last_stream = last_stream.max(seq);
        }
        progress.fetch_add(1, Ordering::SeqCst);
    }
    (table_history, stream_history)
}

#[derive(Debug, Default)]
struct Stats {
    subscriptions: u64,
    dropped: u64,
    killed: u64,
    fell_behind: u64,
    events: u64,
}

/// Subscribes, takes a random number of events, ends the subscription one of three ways,
/// resumes from the last `_seq` seen; until it has seen `final_seq` (once writers are
/// done).
/// What one subscriber thread watches.
struct Watch {
    table: &'static str,
    seed: u64,
    writers_done: Arc<AtomicBool>,
    /// Its table's last `_seq`, once the writers are done.
    final_seq: Arc<AtomicU64>,
    /// Writer operations so far.
    progress: Arc<AtomicU64>,
    done_signal: tokio::sync::watch::Receiver<bool>,
}

async fn subscribe(mut session: Session, watch: Watch, ready: tokio::sync::oneshot::Sender<()>) -> (Vec<Seen>, Stats) {
    let Watch { table, seed, writers_done, final_seq, progress, done_signal } = watch;
    let mut rng = Rng(seed);
    let mut seen: Vec<Seen> = Vec::new();
    let mut stats = Stats::default();
    let mut last: Option<u64> = None;
    let mut ready = Some(ready);
    let caught_up = |last: Option<u64>| writers_done.load(Ordering::SeqCst) && last.unwrap_or(0) >= final_seq.load(Ordering::SeqCst);
    'resume: loop {
        let request =
            SubscribeRequest { table: ObjectRef { namespace: None, name: table.into() }, predicate: None, from_seq: last, last_rows: None };
        let mut subscription = session.subscribe(request).await.expect("subscribe");
        stats.subscriptions += 1;
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        let budget = 1 + rng.below(60);
        let mut taken = 0;
        // Now and then the subscriber stops reading while writers go on, so its buffer fills.
        if rng.below(6) == 0 {
            let until = progress.load(Ordering::SeqCst) + 60;
            while progress.load(Ordering::SeqCst) < until && !writers_done.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
        }
        loop {
            if caught_up(last) {
                break 'resume;
            }
            if taken == budget {
                if rng.below(2) == 0 {
                    stats.dropped += 1;
                    continue 'resume;
                }
                stats.killed += 1;
                let killed = session.execute(&format!("KILL LIVE QUERY '{}'", subscription.id())).await;
                // It may have ended by itself just before (it fell behind).
                assert!(killed.is_ok() || subscription.is_ended(), "kill: {killed:?}");
            }
            let mut done = done_signal.clone();
            let next = tokio::time::timeout(Duration::from_secs(30), subscription.next());
            let event = tokio::select! {
                event = next => match event {
                    Ok(Some(event)) => event,
                    Ok(None) => panic!("subscription ended without a final event"),
                    Err(_) => panic!("no event for 30 s at _seq {last:?} (final {})", final_seq.load(Ordering::SeqCst)),
                },
                // The writers finished while this waited: maybe there is nothing more.
                _ = done.wait_for(|done| *done), if !writers_done.load(Ordering::SeqCst) => continue,
            };
            taken += 1;
            match event.kind {
                EventKind::End => continue 'resume,
                EventKind::Error => {
                    stats.fell_behind += 1;
                    assert_eq!(event.seq, last.or(Some(subscription.start_seq())).or(event.seq), "resume point");
                    continue 'resume;
                }
                _ => {
                    let seq = event.seq.expect("row events have a _seq");
                    seen.push(to_seen(&event, seq));
                    stats.events += 1;
                    last = Some(seq);
                }
            }
        }
    }
    (seen, stats)
}

fn to_seen(event: &LiveEvent, seq: u64) -> Seen {
    Seen { kind: event.kind, seq, row: pair(event.row.as_ref().expect("row")), old: event.old_row.as_ref().map(pair) }
}

#[test]
fn killed_and_resumed_subscribers_see_every_change_once() {
    let test = Arc::new(TestEngine::with_config(|config| config.subscriber_buffer_events = 16));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut session = test.session();
        session.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await.unwrap();
        session.execute("CREATE STREAM TABLE s (w INT, n INT)").await.unwrap();
    });
    let writers_done = Arc::new(AtomicBool::new(false));
    let (done_sender, done_signal) = tokio::sync::watch::channel(false);
    let progress = Arc::new(AtomicU64::new(0));
    let finals = [Arc::new(AtomicU64::new(u64::MAX)), Arc::new(AtomicU64::new(u64::MAX))];
    let mut subscribers = Vec::new();
    let mut ready = Vec::new();
    for (index, table) in ["t", "s"].into_iter().enumerate() {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        ready.push(receiver);
        let test = test.clone();
        let watch = Watch {
            table,
            seed: 77 + index as u64,
            writers_done: writers_done.clone(),
            final_seq: finals[index].clone(),
            progress: progress.clone(),
            done_signal: done_signal.clone(),
        };
        subscribers.push(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(subscribe(test.session(), watch, sender))
        }));
    }
    for receiver in ready {
        runtime.block_on(receiver).expect("subscriber started");
    }
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (test, progress) = (test.clone(), progress.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(write(test.session(), writer, progress))
            })
        })
        .collect();
    let (mut table_history, mut stream_history) = (BTreeMap::new(), BTreeMap::new());
    for writer in writers {
        let (table, stream) = writer.join().expect("writer");
        table_history.extend(table);
        stream_history.extend(stream);
    }
    finals[0].store(*table_history.keys().last().unwrap(), Ordering::SeqCst);
    finals[1].store(*stream_history.keys().last().unwrap(), Ordering::SeqCst);
    writers_done.store(true, Ordering::SeqCst);
    done_sender.send_replace(true);
    let (table_seen, table_stats) = subscribers.remove(0).join().expect("table subscriber");
    let (stream_seen, stream_stats) = subscribers.remove(0).join().expect("stream subscriber");
    eprintln!("SHARED table: {} versions written, {table_stats:?}", table_history.len());
    eprintln!("STREAM table: {} rows written, {stream_stats:?}", stream_history.len());

    // The STREAM table: exactly its history.
    let expected: Vec<(u64, (i32, i32))> = stream_history.iter().map(|(seq, v)| (*seq, (v.key, v.value))).collect();
    let got: Vec<(u64, (i32, i32))> = stream_seen.iter().map(|e| (e.seq, e.row)).collect();
    assert_eq!(got, expected, "stream events differ from the stream's history");

    // The SHARED table.
    let mut previous_seq = 0;
    let mut delivered: HashMap<u64, ()> = HashMap::new();
    for event in &table_seen {
        assert!(event.seq > previous_seq, "_seq {} after {previous_seq}: repeated or out of order", event.seq);
        previous_seq = event.seq;
        delivered.insert(event.seq, ());
        let version = table_history.get(&event.seq).unwrap_or_else(|| panic!("event at _seq {} is no version", event.seq));
        assert_eq!(event.row, (version.key, version.value), "event at _seq {}", event.seq);
        assert_eq!(event.kind == EventKind::Delete, version.deleted, "kind of the event at _seq {}", event.seq);
        if event.kind == EventKind::Update {
            let before = table_history.range(..event.seq).rev().find(|(_, v)| v.key == version.key).expect("a version before");
            assert!(!before.1.deleted);
            assert_eq!(event.old, Some((before.1.key, before.1.value)), "old row of the update at _seq {}", event.seq);
        }
    }
    for (seq, version) in &table_history {
        if delivered.contains_key(seq) {
            continue;
        }
        let replaced = table_seen.iter().any(|e| e.seq > *seq && e.row.0 == version.key);
        assert!(replaced, "version at _seq {seq} ({version:?}) was never delivered nor replaced by a delivered one");
    }
    let mut applied: BTreeMap<i32, i32> = BTreeMap::new();
    for event in &table_seen {
        match event.kind {
            EventKind::Delete => applied.remove(&event.row.0),
            _ => applied.insert(event.row.0, event.row.1),
        };
    }
    let final_rows: BTreeMap<i32, i32> = runtime.block_on(async {
        let mut session = test.session();
        let mut out = BTreeMap::new();
        for batch in rows(session.execute("SELECT id, v FROM t").await.unwrap()) {
            for i in 0..batch.num_rows() {
                out.insert(batch.column(0).as_primitive::<Int32Type>().value(i), batch.column(1).as_primitive::<Int32Type>().value(i));
            }
        }
        out
    });
    assert_eq!(applied, final_rows, "applying the events does not give the table's rows");
    assert!(table_stats.subscriptions > 10 && stream_stats.subscriptions > 10, "too few resumes to mean anything");
}
