//! SHOW NAMESPACES, SHOW TABLES and DESCRIBE.

use crate::catalog::SYSTEM_NAMESPACE;
use crate::error::{EngineError, Result};
use crate::exec::text_rows;
use crate::result::QueryResult;
use crate::session::Session;
use crate::sql::ObjectRef;
use crate::system::{SYSTEM_TABLES, system_table_batch};

pub fn namespaces(session: &Session) -> Result<QueryResult> {
    let mut names: Vec<Option<String>> = session.shared.catalog.namespaces().into_iter().map(|n| Some(n.name)).collect();
    names.push(Some(SYSTEM_NAMESPACE.into()));
    names.sort();
    Ok(text_rows(&[("namespace", names)], &[]))
}

pub fn tables(session: &Session, namespace: Option<String>) -> Result<QueryResult> {
    let namespace = namespace.unwrap_or_else(|| session.current_namespace());
    let (names, kinds): (Vec<Option<String>>, Vec<Option<String>>) = if namespace == SYSTEM_NAMESPACE {
        SYSTEM_TABLES.iter().map(|t| (Some(t.to_string()), Some("system".to_string()))).unzip()
    } else {
        if !session.shared.catalog.namespace_exists(&namespace) {
            return Err(EngineError::undefined_namespace(&namespace));
        }
        session
            .shared
            .catalog
            .tables_in(&namespace)
            .iter()
            .map(|t| (Some(t.definition.name.clone()), Some(t.kind().as_str().to_string())))
            .unzip()
    };
    let namespaces = vec![Some(namespace); names.len()];
    Ok(text_rows(&[("namespace", namespaces), ("table_name", names), ("table_type", kinds)], &[]))
}

pub fn describe(session: &Session, reference: &ObjectRef) -> Result<QueryResult> {
    let (namespace, name) = session.resolve(reference);
    if namespace == SYSTEM_NAMESPACE {
        let batch = system_table_batch(&session.shared, &name)
            .ok_or_else(|| EngineError::undefined_table(format!("{namespace}.{name}")))?;
        let schema = batch.schema();
        let fields = schema.fields();
        return Ok(text_rows(
            &[
                ("column_name", fields.iter().map(|f| Some(f.name().clone())).collect()),
                ("data_type", fields.iter().map(|f| Some(f.data_type().to_string())).collect()),
                ("column_default", vec![None; fields.len()]),
            ],
            &[
                ("is_nullable", fields.iter().map(|f| f.is_nullable()).collect()),
                ("is_primary_key", vec![false; fields.len()]),
            ],
        ));
    }
    if !session.shared.catalog.namespace_exists(&namespace) {
        return Err(EngineError::undefined_namespace(&namespace));
    }
    let entry = session
        .shared
        .catalog
        .table(&namespace, &name)
        .ok_or_else(|| EngineError::undefined_table(format!("{namespace}.{name}")))?;
    let columns = &entry.definition.columns;
    Ok(text_rows(
        &[
            ("column_name", columns.iter().map(|c| Some(c.name.clone())).collect()),
            ("data_type", columns.iter().map(|c| Some(c.data_type.to_string())).collect()),
            ("column_default", columns.iter().map(|c| c.default_sql.clone()).collect()),
        ],
        &[
            ("is_nullable", columns.iter().map(|c| c.nullable).collect()),
            ("is_primary_key", (0..columns.len()).map(|i| entry.key_columns.contains(&i)).collect()),
        ],
    ))
}
