//! `FLUSH TABLE [ns.]t` and `FLUSH ALL TABLES [IN ns]`: what a flush statement names.

use datafusion::sql::sqlparser::tokenizer::TokenWithSpan;

use crate::error::Result;
use crate::sql::parser::{EngineStatement, ObjectRef};
use crate::sql::words::Words;

/// What a FLUSH statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlushTarget {
    Table(ObjectRef),
    /// Every SHARED and USER table, or those of one namespace.
    All {
        namespace: Option<String>,
    },
}

pub(crate) fn parse_flush(tokens: Vec<TokenWithSpan>) -> Result<EngineStatement> {
    let mut words = Words::new(tokens);
    words.expect_keyword("FLUSH")?;
    let target = if words.keyword("ALL") {
        words.expect_keyword("TABLES")?;
        let namespace = if words.keyword("IN") { Some(words.identifier()?) } else { None };
        FlushTarget::All { namespace }
    } else {
        words.expect_keyword("TABLE")?;
        FlushTarget::Table(words.object_ref()?)
    };
    words.end()?;
    Ok(EngineStatement::Flush(target))
}

#[cfg(test)]
mod tests {
    use crate::sql::parser::parse_statements;

    use super::*;

    fn parse(sql: &str) -> Result<Vec<EngineStatement>> {
        parse_statements(sql, &datafusion::sql::sqlparser::dialect::GenericDialect {})
    }

    #[test]
    fn flush_statements_parse() {
        let table = |ns: Option<&str>, name: &str| ObjectRef { namespace: ns.map(str::to_string), name: name.into() };
        assert!(matches!(&parse("FLUSH TABLE t").unwrap()[0], EngineStatement::Flush(FlushTarget::Table(t)) if *t == table(None, "t")));
        assert!(
            matches!(&parse("flush table App.T;").unwrap()[0], EngineStatement::Flush(FlushTarget::Table(t)) if *t == table(Some("app"), "t"))
        );
        assert!(matches!(&parse("FLUSH ALL TABLES").unwrap()[0], EngineStatement::Flush(FlushTarget::All { namespace: None })));
        assert!(
            matches!(&parse("FLUSH ALL TABLES IN app").unwrap()[0], EngineStatement::Flush(FlushTarget::All { namespace: Some(n) }) if n == "app")
        );
        for bad in ["FLUSH", "FLUSH t", "FLUSH TABLE", "FLUSH ALL", "FLUSH TABLE t extra", "FLUSH ALL TABLES IN"] {
            assert_eq!(parse(bad).unwrap_err().sql_state().code(), "42601", "{bad}");
        }
    }
}
