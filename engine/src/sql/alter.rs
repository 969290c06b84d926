//! `ALTER TABLE [ns.]t ADD [COLUMN] [IF NOT EXISTS] c type ... | DROP [COLUMN] [IF EXISTS]
//! c | RENAME [COLUMN] a TO b`: one column change per statement, parsed by sqlparser.

use datafusion::sql::sqlparser::ast::{AlterTable, AlterTableOperation, ColumnDef};

use crate::error::{EngineError, Result};
use crate::sql::parser::{EngineStatement, ObjectRef, ident_name, object_ref};

/// One change of a table's columns.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnChange {
    Add { column: Box<ColumnDef>, if_not_exists: bool },
    Drop { name: String, if_exists: bool },
    Rename { from: String, to: String },
}

pub(crate) fn classify_alter_table(alter: AlterTable) -> Result<EngineStatement> {
    let table: ObjectRef = object_ref(&alter.name)?;
    let [operation] = <[AlterTableOperation; 1]>::try_from(alter.operations)
        .map_err(|_| EngineError::not_supported("ALTER TABLE changes one column per statement; run one ALTER TABLE per change"))?;
    let change = match operation {
        AlterTableOperation::AddColumn { if_not_exists, column_def, column_position: None, .. } => {
            ColumnChange::Add { column: Box::new(column_def), if_not_exists }
        }
        AlterTableOperation::DropColumn { column_names, if_exists, .. } if column_names.len() == 1 => {
            ColumnChange::Drop { name: ident_name(&column_names[0]), if_exists }
        }
        AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
            ColumnChange::Rename { from: ident_name(&old_column_name), to: ident_name(&new_column_name) }
        }
        other => {
            return Err(EngineError::not_supported(format!(
                "ALTER TABLE ... {other} is not supported: ADD COLUMN, DROP COLUMN, RENAME COLUMN and SET ACCESS_LEVEL are"
            )));
        }
    };
    Ok(EngineStatement::AlterColumns { table, change })
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    use super::*;
    use crate::sql::parser::parse_statements;

    fn change(sql: &str) -> Result<ColumnChange> {
        match parse_statements(sql, &GenericDialect {})?.remove(0) {
            EngineStatement::AlterColumns { change, .. } => Ok(change),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn column_changes_parse() {
        assert!(matches!(change("ALTER TABLE t ADD COLUMN c INT DEFAULT 1").unwrap(), ColumnChange::Add { if_not_exists: false, .. }));
        assert!(matches!(change("ALTER TABLE t ADD IF NOT EXISTS c TEXT").unwrap(), ColumnChange::Add { if_not_exists: true, .. }));
        assert_eq!(change("ALTER TABLE t DROP COLUMN IF EXISTS C").unwrap(), ColumnChange::Drop { name: "c".into(), if_exists: true });
        assert_eq!(
            change("ALTER TABLE app.t RENAME COLUMN a TO \"B\"").unwrap(),
            ColumnChange::Rename { from: "a".into(), to: "B".into() }
        );
        for refused in
            ["ALTER TABLE t ADD COLUMN a INT, ADD COLUMN b INT", "ALTER TABLE t DROP COLUMN a, DROP COLUMN b", "ALTER TABLE t RENAME TO u"]
        {
            assert_eq!(change(refused).unwrap_err().sql_state().code(), "0A000", "{refused}");
        }
    }
}
