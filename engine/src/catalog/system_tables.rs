//! The tables of the read-only `system` namespace, one variant each: their names, their
//! display order, and the weakest role that reads them. Everything that dispatches on a
//! system table matches on [`SystemTable`], so a new one is a variant here plus the match
//! arms the compiler asks for (its rows in `system/`).

use crate::catalog::Role;

/// A table of the `system` namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemTable {
    Namespaces,
    Tables,
    Columns,
    Users,
    Jobs,
    LiveQueries,
}

impl SystemTable {
    /// Every system table, in display order.
    pub const ALL: [SystemTable; 6] = [
        SystemTable::Namespaces,
        SystemTable::Tables,
        SystemTable::Columns,
        SystemTable::Users,
        SystemTable::Jobs,
        SystemTable::LiveQueries,
    ];

    /// What `system.tables.table_type` says of every system table.
    pub const TABLE_TYPE: &'static str = "system";

    /// Its name in the `system` namespace.
    pub fn name(self) -> &'static str {
        match self {
            SystemTable::Namespaces => "namespaces",
            SystemTable::Tables => "tables",
            SystemTable::Columns => "columns",
            SystemTable::Users => "users",
            SystemTable::Jobs => "jobs",
            SystemTable::LiveQueries => "live_queries",
        }
    }

    /// The system table called `name`, if there is one.
    pub fn named(name: &str) -> Option<SystemTable> {
        SystemTable::ALL.into_iter().find(|table| table.name() == name)
    }

    /// The weakest role that reads it: users and jobs are the administrators'; the others
    /// are open to every role (and show each only what it may read).
    pub fn readers_from(self) -> Role {
        match self {
            SystemTable::Users | SystemTable::Jobs => Role::Dba,
            SystemTable::Namespaces | SystemTable::Tables | SystemTable::Columns | SystemTable::LiveQueries => Role::User,
        }
    }
}

impl std::fmt::Display for SystemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_again() {
        for table in SystemTable::ALL {
            assert_eq!(SystemTable::named(table.name()), Some(table));
        }
        assert_eq!(SystemTable::named("Tables"), None, "names are exact");
    }
}
