//! The key layout of the RocksDB keyspace: the only place that knows how keys are built.
//!
//! One keyspace (RocksDB's default column family), partitioned by a one-byte tag:
//!
//! | tag    | key                                    | value                          |
//! |--------|----------------------------------------|--------------------------------|
//! | `0x00` | `META` name                            | engine counters (u64 BE)       |
//! | `0x01` | `NAMESPACE` name                       | namespace record (JSON)        |
//! | `0x02` | `TABLE` table id (u64 BE), version (u32 BE) | table definition (JSON)   |
//! | `0x03` | `TABLE_NAME` namespace `0x00` table    | table id (u64 BE)              |
//! | `0x04` | `USER` user name                       | user record (JSON)             |
//! | `0x05` | `VIEW` namespace `0x00` view           | view definition (JSON)         |
//! | `0x10` | `ROW` table id (u64 BE), scope, primary key | row value ([`super::row_codec`]) |
//!
//! The scope of a row is `0x00` for SHARED tables and `0x01` followed by the owner's user
//! id (u64 BE, fixed width) for USER and STREAM tables, so one user's rows are one
//! contiguous range. User ids are never reused (a counter, like table ids), so a user
//! created under the name of a dropped one can never reach a byte the old one wrote. The primary key part is the
//! memcomparable encoding of [`super::key_codec`], so key order is value order and a
//! primary-key lookup or range is a single RocksDB seek.
//!
//! Architecture invariant: every byte of a table lives under [`table_row_prefix`] or the
//! table's catalog keys ([`table_definition_prefix`], [`table_name_key`]); dropping a table
//! deletes exactly those ranges. A view is one key ([`view_key`]).

const META: u8 = 0x00;
const NAMESPACE: u8 = 0x01;
const TABLE: u8 = 0x02;
const TABLE_NAME: u8 = 0x03;
const USER: u8 = 0x04;
const VIEW: u8 = 0x05;
const ROW: u8 = 0x10;

/// Identifies a table for its whole life; never reused.
pub type TableId = u64;

/// Identifies a user for its whole life; never reused.
pub type UserId = u64;

/// Whose rows a key range holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowScope {
    /// SHARED tables: one set of rows for everyone.
    Shared,
    /// USER and STREAM tables: the rows of one user.
    User(UserId),
}

fn tagged(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + rest.len());
    key.push(tag);
    key.extend_from_slice(rest);
    key
}

pub fn meta_key(name: &str) -> Vec<u8> {
    tagged(META, name.as_bytes())
}

pub fn namespace_key(namespace: &str) -> Vec<u8> {
    tagged(NAMESPACE, namespace.as_bytes())
}

pub fn namespace_prefix() -> Vec<u8> {
    vec![NAMESPACE]
}

/// Decodes the namespace name of a [`namespace_key`].
pub fn namespace_from_key(key: &[u8]) -> Option<&str> {
    key.strip_prefix(&[NAMESPACE]).and_then(|rest| std::str::from_utf8(rest).ok())
}

pub fn table_definition_key(table_id: TableId, version: u32) -> Vec<u8> {
    let mut key = table_definition_prefix(table_id);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// All schema versions of one table.
pub fn table_definition_prefix(table_id: TableId) -> Vec<u8> {
    let mut key = vec![TABLE];
    key.extend_from_slice(&table_id.to_be_bytes());
    key
}

/// All schema versions of all tables.
pub fn all_table_definitions_prefix() -> Vec<u8> {
    vec![TABLE]
}

pub fn table_name_key(namespace: &str, table: &str) -> Vec<u8> {
    qualified_key(TABLE_NAME, namespace, table)
}

fn qualified_key(tag: u8, namespace: &str, name: &str) -> Vec<u8> {
    let mut key = vec![tag];
    key.extend_from_slice(namespace.as_bytes());
    key.push(0);
    key.extend_from_slice(name.as_bytes());
    key
}

/// The definition of one view.
pub fn view_key(namespace: &str, view: &str) -> Vec<u8> {
    qualified_key(VIEW, namespace, view)
}

/// The record of one user (by name: names are unique, ids are in the record).
pub fn user_key(name: &str) -> Vec<u8> {
    tagged(USER, name.as_bytes())
}

/// Every user record.
pub fn all_users_prefix() -> Vec<u8> {
    vec![USER]
}

/// Every view of every namespace.
pub fn all_views_prefix() -> Vec<u8> {
    vec![VIEW]
}

/// Every row key of a table, all scopes.
pub fn table_row_prefix(table_id: TableId) -> Vec<u8> {
    let mut key = vec![ROW];
    key.extend_from_slice(&table_id.to_be_bytes());
    key
}

/// Every row key of one scope of a table.
pub fn scope_row_prefix(table_id: TableId, scope: &RowScope) -> Vec<u8> {
    let mut key = table_row_prefix(table_id);
    match scope {
        RowScope::Shared => key.push(0x00),
        RowScope::User(user) => {
            key.push(0x01);
            key.extend_from_slice(&user.to_be_bytes());
        }
    }
    key
}

/// The full key of one row: scope prefix followed by the encoded primary key.
pub fn row_key(scope_prefix: &[u8], encoded_primary_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(scope_prefix.len() + encoded_primary_key.len());
    key.extend_from_slice(scope_prefix);
    key.extend_from_slice(encoded_primary_key);
    key
}

/// The row-key part of a STREAM row: its arrival time (engine clock, milliseconds, big
/// endian) and then an internal row id, so one user's rows are in arrival order and every
/// row that arrived before an instant is one key range ([`stream_rows_before`]).
pub fn stream_row_suffix(arrival_millis: i64, row_id: u64) -> [u8; 16] {
    let mut suffix = [0u8; 16];
    suffix[..8].copy_from_slice(&(arrival_millis.max(0) as u64).to_be_bytes());
    suffix[8..].copy_from_slice(&row_id.to_be_bytes());
    suffix
}

/// The first key of a scope's STREAM rows that arrived at `millis` or later: every key
/// of the scope below it arrived earlier.
pub fn stream_rows_before(scope_prefix: &[u8], millis: i64) -> Vec<u8> {
    let mut key = scope_prefix.to_vec();
    key.extend_from_slice(&(millis.max(0) as u64).to_be_bytes());
    key
}

/// The arrival time of a STREAM row, from the row-key part after the scope prefix.
pub fn stream_arrival_millis(row_key_suffix: &[u8]) -> Option<i64> {
    row_key_suffix.get(..8).and_then(|b| b.try_into().ok()).map(|b| u64::from_be_bytes(b) as i64)
}

/// The prefix of every per-user scope of a table (USER and STREAM tables).
pub fn user_scopes_prefix(table_id: TableId) -> Vec<u8> {
    let mut key = table_row_prefix(table_id);
    key.push(0x01);
    key
}

/// The user whose scope a row key of `table_id` belongs to (`None` for SHARED rows or
/// keys of other tables).
pub fn user_of_row_key(table_id: TableId, key: &[u8]) -> Option<UserId> {
    let rest = key.strip_prefix(user_scopes_prefix(table_id).as_slice())?;
    rest.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when the
/// prefix is all `0xFF` (no upper bound).
pub fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bound = prefix.to_vec();
    while let Some(last) = bound.pop() {
        if last != 0xFF {
            bound.push(last + 1);
            return Some(bound);
        }
    }
    None
}

/// A decoded key, for diagnostics and storage snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodedKey {
    Meta(String),
    Namespace(String),
    TableDefinition { table_id: TableId, version: u32 },
    TableName { namespace: String, table: String },
    View { namespace: String, view: String },
    User(String),
    Row { table_id: TableId, scope: RowScope, primary_key: Vec<u8> },
    Unknown(Vec<u8>),
}

pub fn decode_key(key: &[u8]) -> DecodedKey {
    let unknown = || DecodedKey::Unknown(key.to_vec());
    let Some((&tag, rest)) = key.split_first() else { return unknown() };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    match tag {
        META => DecodedKey::Meta(text(rest)),
        NAMESPACE => DecodedKey::Namespace(text(rest)),
        USER => DecodedKey::User(text(rest)),
        TABLE if rest.len() == 12 => DecodedKey::TableDefinition {
            table_id: u64::from_be_bytes(rest[..8].try_into().unwrap()),
            version: u32::from_be_bytes(rest[8..].try_into().unwrap()),
        },
        TABLE_NAME | VIEW => match rest.iter().position(|b| *b == 0) {
            Some(split) if tag == TABLE_NAME => DecodedKey::TableName { namespace: text(&rest[..split]), table: text(&rest[split + 1..]) },
            Some(split) => DecodedKey::View { namespace: text(&rest[..split]), view: text(&rest[split + 1..]) },
            None => unknown(),
        },
        ROW if rest.len() >= 9 => {
            let table_id = u64::from_be_bytes(rest[..8].try_into().unwrap());
            let after = &rest[9..];
            match rest[8] {
                0x00 => DecodedKey::Row { table_id, scope: RowScope::Shared, primary_key: after.to_vec() },
                0x01 if after.len() >= 8 => DecodedKey::Row {
                    table_id,
                    scope: RowScope::User(u64::from_be_bytes(after[..8].try_into().unwrap())),
                    primary_key: after[8..].to_vec(),
                },
                _ => unknown(),
            }
        }
        _ => unknown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_decode() {
        assert_eq!(decode_key(&meta_key("seq")), DecodedKey::Meta("seq".into()));
        assert_eq!(decode_key(&namespace_key("app")), DecodedKey::Namespace("app".into()));
        assert_eq!(decode_key(&table_definition_key(7, 2)), DecodedKey::TableDefinition { table_id: 7, version: 2 });
        assert_eq!(decode_key(&table_name_key("app", "t")), DecodedKey::TableName { namespace: "app".into(), table: "t".into() });
        assert_eq!(decode_key(&view_key("app", "v")), DecodedKey::View { namespace: "app".into(), view: "v".into() });
        let shared = row_key(&scope_row_prefix(9, &RowScope::Shared), b"\x01");
        assert_eq!(decode_key(&shared), DecodedKey::Row { table_id: 9, scope: RowScope::Shared, primary_key: vec![1] });
        let user = row_key(&scope_row_prefix(9, &RowScope::User(300)), b"\x02");
        assert_eq!(decode_key(&user), DecodedKey::Row { table_id: 9, scope: RowScope::User(300), primary_key: vec![2] });
        assert_eq!(decode_key(&user_key("Alice")), DecodedKey::User("Alice".into()));
    }

    #[test]
    fn scopes_and_tables_are_disjoint_ranges() {
        let shared = scope_row_prefix(1, &RowScope::Shared);
        let alice = scope_row_prefix(1, &RowScope::User(2));
        let bob = scope_row_prefix(1, &RowScope::User(3));
        assert!(!alice.starts_with(&bob) && !bob.starts_with(&alice));
        assert!(shared.starts_with(&table_row_prefix(1)));
        assert!(alice.starts_with(&table_row_prefix(1)));
        assert!(!alice.starts_with(&shared));
        assert!(!table_row_prefix(2).starts_with(&table_row_prefix(1)));
        let upper = prefix_upper_bound(&table_row_prefix(1)).unwrap();
        assert!(upper.as_slice() > alice.as_slice() && upper <= table_row_prefix(2));
    }

    #[test]
    fn upper_bound_carries_past_ff() {
        assert_eq!(prefix_upper_bound(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_upper_bound(&[0xFF, 0xFF]), None);
    }
}
