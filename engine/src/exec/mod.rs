//! Statements the engine executes itself, one file per statement family, each given the
//! session's [`context::ExecContext`]; and the planned path for everything else
//! ([`query`]).

pub mod alter_table;
pub mod context;
pub mod create_table;
pub mod dml;
pub mod drop_table;
pub mod flush;
pub mod initial_rows;
pub mod jobs;
pub mod namespace;
pub mod query;
pub mod show;
pub mod simple;
pub mod subscribe;
pub mod transaction;
pub mod users;
pub mod view;

pub use context::ExecContext;

use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

use crate::catalog::DdlGuard;
use crate::error::Result;
use crate::result::QueryResult;
use crate::storage::off_async;

/// Runs catalog work that writes storage through `off_async` while the caller keeps its
/// DDL lock (handed back with the result).
pub(crate) async fn catalog_work<T: Send + 'static>(
    ddl: DdlGuard,
    work: impl FnOnce(&DdlGuard) -> Result<T> + Send + 'static,
) -> Result<(DdlGuard, T)> {
    off_async(move || {
        let out = work(&ddl)?;
        Ok((ddl, out))
    })
    .await
}

/// A result of text (and boolean) columns, for SHOW and DESCRIBE.
pub(crate) fn text_rows(columns: &[(&str, Vec<Option<String>>)], flags: &[(&str, Vec<bool>)]) -> QueryResult {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (name, values) in columns {
        fields.push(Field::new(*name, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(values.clone())));
    }
    for (name, values) in flags {
        fields.push(Field::new(*name, DataType::Boolean, false));
        arrays.push(Arc::new(BooleanArray::from(values.clone())));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("columns match their fields");
    QueryResult::Rows { schema, batches: vec![batch] }
}
