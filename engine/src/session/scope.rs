//! What the statement being planned asks of table providers.
//!
//! The session sets a [`StatementScope`] before DataFusion plans a statement and clears it
//! afterwards; the session's catalog reads it when DataFusion resolves each table, to
//! decide which system columns (and, for UPDATE/DELETE targets, the row key) to expose.

use std::sync::{Arc, Mutex};

use crate::catalog::SystemColumn;

/// The table an INSERT, UPDATE or DELETE writes to, resolved to its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmlTarget {
    pub namespace: String,
    pub table: String,
    /// UPDATE and DELETE need the row key; INSERT must see only user columns.
    pub needs_row_key: bool,
}

#[derive(Debug, Clone, Default)]
pub struct StatementScope {
    pub mentions: Vec<SystemColumn>,
    pub target: Option<DmlTarget>,
}

/// Shared between a session and its catalog provider.
pub type ScopeCell = Arc<Mutex<StatementScope>>;

pub fn current(cell: &ScopeCell) -> StatementScope {
    cell.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

pub fn set(cell: &ScopeCell, scope: StatementScope) {
    *cell.lock().unwrap_or_else(|p| p.into_inner()) = scope;
}
