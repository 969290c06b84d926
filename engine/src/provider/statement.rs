//! What the statement being planned asks of table providers.
//!
//! The executor sets a [`StatementNotes`] before DataFusion plans a statement and clears
//! it afterwards; the session's catalog reads it when DataFusion resolves each table, to
//! decide which system columns (and, for UPDATE/DELETE targets, the row key) to expose
//! and whether the reference is read or written.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::catalog::SystemColumn;
use crate::provider::transaction::InTransaction;
use crate::storage::ReadPoint;

/// How a statement writes its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmlKind {
    /// INSERT sees only user columns (the insert planner fills exactly those).
    Insert,
    /// UPDATE and DELETE need the row key, and see the system columns they name.
    UpdateOrDelete,
    Truncate,
}

/// The table an INSERT, UPDATE, DELETE or TRUNCATE writes to, resolved to its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmlTarget {
    pub namespace: String,
    pub table: String,
    pub kind: DmlKind,
}

#[derive(Debug, Clone, Default)]
pub struct StatementNotes {
    pub mentions: Vec<SystemColumn>,
    /// The target, found by name in the engine's catalog.
    pub target: Option<DmlTarget>,
    /// The INSERT target planned under the catalog of INSERT targets (the only table that
    /// catalog serves, for this statement).
    pub insert_target: Option<DmlTarget>,
    /// The view (namespace, name) whose query is being planned by CREATE [OR REPLACE]
    /// VIEW: no view read by this statement may reach it.
    pub defining_view: Option<(String, String)>,
    /// Collects the (namespace, name) of every table and view the statement reads
    /// directly (CREATE VIEW records them, to list the view only to users who may read
    /// them all).
    pub reads: Option<ReadLog>,
    /// The transaction block the statement runs in (its providers read the block's view
    /// and write its pending rows).
    pub transaction: Option<InTransaction>,
    /// Where the statement reads (the block's view, or the present, noting its reads
    /// when its commit checks them).
    pub at: ReadPoint,
}

/// The objects a statement read, filled in while it plans.
pub type ReadLog = Arc<Mutex<BTreeSet<(String, String)>>>;

/// Notes that the statement read `namespace.name`.
pub fn record_read(notes: &StatementNotes, namespace: &str, name: &str) {
    if let Some(log) = &notes.reads {
        log.lock().unwrap_or_else(|p| p.into_inner()).insert((namespace.to_string(), name.to_string()));
    }
}

/// Shared between a session and its catalog provider.
pub type NotesCell = Arc<Mutex<StatementNotes>>;

pub fn current(cell: &NotesCell) -> StatementNotes {
    cell.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

pub fn set(cell: &NotesCell, notes: StatementNotes) {
    *cell.lock().unwrap_or_else(|p| p.into_inner()) = notes;
}
