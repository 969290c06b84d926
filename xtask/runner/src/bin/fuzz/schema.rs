//! Random schemas: SHARED, USER and STREAM tables with columns of every type, single,
//! composite or no primary keys, NOT NULL and DEFAULT columns, names that need quoting;
//! and the schema changes between inserts (`ALTER TABLE ADD / DROP / RENAME COLUMN`).

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::data::{ALL_TYPES, Ty, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Shared,
    User,
    Stream,
}

impl Kind {
    /// Rows belong to the user who wrote them.
    pub fn per_user(self) -> bool {
        self != Kind::Shared
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: Ty,
    pub not_null: bool,
    pub key: bool,
    pub default: Option<Value>,
}

impl Column {
    /// The name as SQL: bare when it is a plain lower-case word, quoted otherwise.
    pub fn ident(&self) -> String {
        ident(&self.name)
    }
}

pub fn ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub kind: Kind,
    pub columns: Vec<Column>,
    /// STREAM: the newest rows kept per user.
    pub max_rows: Option<usize>,
    /// Names handed out so far (new names never repeat one, so a dropped column's values
    /// cannot come back under its name by accident); 100 and more: random names.
    pub next_name: usize,
}

/// Names of columns: mostly `cN`, sometimes a name that needs quoting.
fn column_name(n: usize, rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => format!("Ünï{n}"),
        1 => format!("Mixed Case {n}"),
        _ => format!("c{n}"),
    }
}

impl Table {
    pub fn random(name: String, kind: Kind, rng: &mut StdRng) -> Table {
        let mut table = Table { name, kind, columns: Vec::new(), max_rows: None, next_name: 0 };
        let count = rng.random_range(1..=5);
        for _ in 0..count {
            let ty = *ALL_TYPES.choose(rng).expect("types");
            let name = table.fresh_name(rng);
            let not_null = rng.random_bool(0.15);
            let default = if rng.random_bool(0.2) { Some(Value::random(ty, rng)) } else { None };
            table.columns.push(Column { name, ty, not_null, key: false, default });
        }
        table.next_name = 100;
        if kind != Kind::Stream && rng.random_bool(0.75) {
            // A key of one column, sometimes two or three; booleans are poor keys but legal.
            let keys = match rng.random_range(0..10) {
                0 | 1 => 2,
                2 => 3,
                _ => 1,
            }
            .min(table.columns.len());
            let mut positions: Vec<usize> = (0..table.columns.len()).collect();
            positions.sort_by_key(|_| rng.random::<u32>());
            for &p in positions.iter().take(keys) {
                let column = &mut table.columns[p];
                if column.ty == Ty::Bool && keys == 1 {
                    column.ty = Ty::Int;
                    column.default = None;
                }
                column.key = true;
                column.not_null = true;
                column.default = column.default.take().filter(|_| rng.random_bool(0.2));
            }
        }
        if kind == Kind::Stream && rng.random_bool(0.3) {
            table.max_rows = Some(rng.random_range(3..=40));
        }
        table
    }

    /// A name no column of the table had: `c0`, `c1`, ... when the table is created, then
    /// (ALTER TABLE, where the model keeps the schema) a random number large enough never
    /// to repeat in practice.
    pub fn fresh_name(&mut self, rng: &mut StdRng) -> String {
        if self.next_name < 100 {
            let name = column_name(self.next_name, rng);
            self.next_name += 1;
            return name;
        }
        loop {
            let name = column_name(rng.random_range(100..10_000_000), rng);
            if self.columns.iter().all(|c| c.name != name) {
                return name;
            }
        }
    }

    pub fn ident(&self) -> String {
        ident(&self.name)
    }

    pub fn keys(&self) -> Vec<usize> {
        (0..self.columns.len()).filter(|&i| self.columns[i].key).collect()
    }

    pub fn has_key(&self) -> bool {
        self.columns.iter().any(|c| c.key)
    }

    pub fn create_sql(&self) -> String {
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let mut text = format!("{} {}", c.ident(), c.ty.sql());
                if c.not_null && !c.key {
                    text.push_str(" NOT NULL");
                }
                if let Some(default) = &c.default {
                    text.push_str(&format!(" DEFAULT {}", default.literal(c.ty, true)));
                }
                text
            })
            .collect();
        let keys: Vec<String> = self.columns.iter().filter(|c| c.key).map(Column::ident).collect();
        if !keys.is_empty() {
            parts.push(format!("PRIMARY KEY ({})", keys.join(", ")));
        }
        let columns = parts.join(", ");
        match self.kind {
            Kind::Shared => format!("CREATE TABLE {} ({columns})", self.ident()),
            Kind::User => format!("CREATE USER TABLE {} ({columns})", self.ident()),
            Kind::Stream => match self.max_rows {
                Some(max) => format!("CREATE STREAM TABLE {} ({columns}) WITH (MAX_ROWS = {max})", self.ident()),
                None => format!("CREATE STREAM TABLE {} ({columns})", self.ident()),
            },
        }
    }
}

/// One schema change.
#[derive(Debug, Clone)]
pub enum Alter {
    Add(Column),
    Drop(usize),
    Rename(usize, String),
}

impl Alter {
    pub fn random(table: &mut Table, rng: &mut StdRng) -> Alter {
        let droppable: Vec<usize> = (0..table.columns.len()).filter(|&i| !table.columns[i].key).collect();
        match rng.random_range(0..3) {
            0 if table.columns.len() > 1 && !droppable.is_empty() => Alter::Drop(*droppable.choose(rng).expect("columns")),
            1 => {
                let at = rng.random_range(0..table.columns.len());
                Alter::Rename(at, table.fresh_name(rng))
            }
            _ => {
                let ty = *ALL_TYPES.choose(rng).expect("types");
                let default = if rng.random_bool(0.4) { Some(Value::random(ty, rng)) } else { None };
                let not_null = default.is_some() && rng.random_bool(0.3);
                Alter::Add(Column { name: table.fresh_name(rng), ty, not_null, key: false, default })
            }
        }
    }
}
