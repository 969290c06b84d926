//! A readable listing of everything in hot storage: every key decoded, every row value
//! decoded with its table's schema. Used by storage snapshots and cleanup tests, so a
//! change of layout shows up in review.

use datafusion::arrow::array::Array;
use datafusion::common::ScalarValue;

use crate::catalog::TableEntry;
use crate::error::Result;
use crate::shared::EngineShared;
use crate::storage::key_codec::{decode_key_values, decode_row_id};
use crate::storage::keys::{self, DecodedKey, RowScope, decode_key};
use crate::storage::row_codec::{RowDecoder, decode_header};

/// One line per stored key, in key order.
pub fn describe_storage(shared: &EngineShared) -> Result<Vec<String>> {
    let tables = shared.catalog.tables();
    let mut lines = Vec::new();
    for (key, value) in shared.store.dump()? {
        lines.push(match decode_key(&key) {
            DecodedKey::Meta(name) => {
                let number = value.as_slice().try_into().map(u64::from_be_bytes).map(|n| n.to_string());
                format!("meta {name} = {}", number.unwrap_or_else(|_| format!("{value:?}")))
            }
            DecodedKey::Namespace(name) => format!("namespace {name} = {}", String::from_utf8_lossy(&value)),
            DecodedKey::TableDefinition { table_id, version } => {
                format!("table #{table_id} v{version} = {}", String::from_utf8_lossy(&value))
            }
            // Never the hash: storage snapshots must not show one.
            DecodedKey::User(name) => match serde_json::from_slice::<crate::catalog::UserRecord>(&value) {
                Ok(user) => format!(
                    "user {name} = id {}, role {}, password {}, created {}",
                    user.id,
                    user.role.as_str(),
                    if user.password_hash.is_some() { "set" } else { "none" },
                    user.created_at_millis
                ),
                Err(_) => format!("user {name} = <corrupt record>"),
            },
            DecodedKey::View { namespace, view } => format!("view {namespace}.{view} = {}", String::from_utf8_lossy(&value)),
            DecodedKey::TableName { namespace, table } => {
                let id = value.as_slice().try_into().map(u64::from_be_bytes).unwrap_or(0);
                format!("table-name {namespace}.{table} -> #{id}")
            }
            DecodedKey::Row { table_id, scope, primary_key } => {
                let entry = tables.iter().find(|t| t.id() == table_id);
                describe_row(table_id, &scope, &primary_key, &value, entry.map(|e| e.as_ref()))
            }
            DecodedKey::Unknown(bytes) => format!("unknown key {bytes:?}"),
        });
    }
    Ok(lines)
}

fn describe_row(table_id: u64, scope: &RowScope, key: &[u8], value: &[u8], entry: Option<&TableEntry>) -> String {
    let scope = match scope {
        RowScope::Shared => "shared".to_string(),
        RowScope::User(user) => format!("user {user}"),
    };
    let Some(entry) = entry else {
        return format!("row #{table_id} {scope} ORPHAN key={key:?} ({} bytes)", value.len());
    };
    let key_text = if entry.kind().rules().append_only {
        let arrival = keys::stream_arrival_millis(key).map(|ms| ms.to_string()).unwrap_or_else(|| "?".into());
        let row_id = key.get(8..).and_then(decode_row_id).map(|id| id.to_string()).unwrap_or_else(|| "?".into());
        format!("arrival {arrival} ms, row-id {row_id}")
    } else if entry.has_primary_key() {
        match decode_key_values(&entry.key_types(), key) {
            Ok(values) => values.iter().map(render).collect::<Vec<_>>().join(", "),
            Err(e) => format!("undecodable: {e}"),
        }
    } else {
        format!("row-id {}", decode_row_id(key).map(|id| id.to_string()).unwrap_or_else(|| "?".into()))
    };
    let header = match decode_header(value) {
        Ok(header) => header,
        Err(e) => return format!("row #{table_id} {scope} ({key_text}) undecodable: {e}"),
    };
    let values = entry
        .versions
        .get(&header.schema_version)
        .map(|layout| {
            let types: Vec<_> = layout.iter().map(|c| c.data_type.clone()).collect();
            let mut decoder = match RowDecoder::new(types.clone(), &types, (0..types.len()).map(Some).collect(), 1) {
                Ok(decoder) => decoder,
                Err(e) => return format!("undecodable: {e}"),
            };
            match decoder.push(value).and_then(|_| decoder.finish()) {
                Ok(columns) => columns
                    .iter()
                    .zip(layout)
                    .map(|(column, definition)| {
                        let value = if column.is_null(0) {
                            "NULL".to_string()
                        } else {
                            ScalarValue::try_from_array(column.as_ref(), 0).map(|v| render(&v)).unwrap_or_default()
                        };
                        format!("{}={value}", definition.name)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => format!("undecodable: {e}"),
            }
        })
        .unwrap_or_else(|| format!("unknown schema version {}", header.schema_version));
    let owner = if scope == "shared" { String::new() } else { format!(" {scope}") };
    format!(
        "row {}.{}{owner} ({key_text}) seq={} updated={} deleted={} v{} [{values}] ({} bytes)",
        entry.definition.namespace,
        entry.definition.name,
        header.seq,
        header.updated_millis,
        header.deleted,
        header.schema_version,
        value.len()
    )
}

fn render(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => format!("'{s}'"),
        other => other.to_string(),
    }
}
