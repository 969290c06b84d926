//! Random statements from a grammar of the shapes isolation must hold in: filters, joins
//! (USER x USER, USER x SHARED, self-joins), subqueries (IN, EXISTS, scalar), CTEs, set
//! operations, window functions, aggregates, views, LIMIT (sorted and pushed into the
//! scan); probes the oracle cannot
//! answer (EXPLAIN, EXPLAIN ANALYZE, system columns, listings), checked for leaks only;
//! and writes (INSERT, INSERT ... SELECT, UPDATE and DELETE with subqueries, by key, and
//! TRUNCATE), whose effect the checker predicts from the oracle.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// A table or view with an `id` column, and its value and text columns.
struct Source {
    name: &'static str,
    value: &'static str,
    text: &'static str,
}

const SOURCES: [Source; 8] = [
    Source { name: "notes", value: "val", text: "tag" },
    Source { name: "items", value: "qty", text: "owner" },
    Source { name: "catalog", value: "price", text: "name" },
    Source { name: "internal", value: "level", text: "secret" },
    Source { name: "vault", value: "level", text: "secret" },
    Source { name: "v_notes", value: "val", text: "tag" },
    Source { name: "v_mix", value: "price", text: "tag" },
    Source { name: "v_private", value: "val", text: "secret" },
];

/// One generated statement.
#[derive(Debug, Clone)]
pub enum Op {
    /// A query answered by both the engine and the oracle; results must match.
    Read(String),
    /// A statement only the engine answers (plans, system columns); its output must hold
    /// nothing of anyone else.
    Probe(String),
    /// A listing of `default`'s tables: the names in column `column` must be exactly the
    /// ones the effective user may read.
    Listing {
        sql: &'static str,
        column: usize,
    },
    /// `SELECT ... FROM system.users`: dba and system only.
    Users,
    Write(Write),
}

/// The listings checked against what a role may read.
const LISTINGS: [(&str, usize); 5] = [
    ("SELECT table_name FROM system.tables WHERE namespace_id = 'default'", 0),
    ("SELECT table_name FROM information_schema.tables WHERE table_schema = 'default'", 0),
    ("SELECT DISTINCT table_name FROM system.columns WHERE namespace_id = 'default'", 0),
    ("SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = 'default'", 0),
    ("SHOW TABLES", 1),
];

/// A write to a SHARED scratch table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScratchWrite {
    Insert(i32),
    Delete,
    Truncate,
    /// The same under EXPLAIN ANALYZE, which runs them.
    ExplainInsert(i32),
    ExplainTruncate,
}

/// A write and what the checker needs to predict it.
#[derive(Debug, Clone)]
pub enum Write {
    /// `INSERT INTO notes VALUES (id, CURRENT_USER(), val, '<marker>id')`.
    InsertNote {
        id: i32,
        val: i32,
    },
    /// `INSERT INTO items (id, owner, qty) SELECT id + offset, owner, val FROM notes WHERE ...`.
    CopyNotesToItems {
        offset: i32,
        filter: String,
    },
    /// `UPDATE notes SET val = val + 1 WHERE ...`.
    BumpNotes {
        filter: String,
    },
    /// `DELETE FROM notes WHERE ...`.
    DeleteNotes {
        filter: String,
    },
    /// `UPDATE items SET qty = qty + 1 WHERE id = k` (the simple-statement path).
    BumpItem {
        id: i32,
    },
    /// `DELETE FROM items WHERE id = k` (the simple-statement path).
    DeleteItem {
        id: i32,
    },
    TruncateEvents,
    InsertEvent {
        n: i32,
    },
    /// A write to `world::SCRATCH[table]`.
    Scratch {
        table: usize,
        write: ScratchWrite,
    },
}

impl Write {
    /// The SQL, with `CURRENT_USER()` where the owner goes.
    pub fn sql(&self, marker: &str) -> String {
        match self {
            Write::InsertNote { id, val } => {
                format!("INSERT INTO notes VALUES ({id}, CURRENT_USER(), {val}, '{marker}{id}')")
            }
            Write::CopyNotesToItems { offset, filter } => {
                format!("INSERT INTO items (id, owner, qty) SELECT id + {offset}, owner, val FROM notes WHERE {filter}")
            }
            Write::BumpNotes { filter } => format!("UPDATE notes SET val = val + 1 WHERE {filter}"),
            Write::DeleteNotes { filter } => format!("DELETE FROM notes WHERE {filter}"),
            Write::BumpItem { id } => format!("UPDATE items SET qty = qty + 1 WHERE id = {id}"),
            Write::DeleteItem { id } => format!("DELETE FROM items WHERE id = {id}"),
            Write::TruncateEvents => "TRUNCATE TABLE events".into(),
            Write::InsertEvent { n } => format!("INSERT INTO events VALUES (CURRENT_USER(), {n})"),
            Write::Scratch { table, write } => {
                let name = crate::world::SCRATCH[*table].0;
                match write {
                    ScratchWrite::Insert(id) => format!("INSERT INTO {name} VALUES ({id}, 1)"),
                    ScratchWrite::Delete => format!("DELETE FROM {name} WHERE v >= 0"),
                    ScratchWrite::Truncate => format!("TRUNCATE TABLE {name}"),
                    ScratchWrite::ExplainInsert(id) => format!("EXPLAIN ANALYZE INSERT INTO {name} VALUES ({id}, 1)"),
                    ScratchWrite::ExplainTruncate => format!("EXPLAIN ANALYZE TRUNCATE TABLE {name}"),
                }
            }
        }
    }
}

pub struct Grammar {
    rng: StdRng,
    /// The next key written to a scratch table (never reused).
    next_scratch_id: i32,
}

impl Grammar {
    pub fn new(rng: StdRng) -> Self {
        Grammar { rng, next_scratch_id: 1 }
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    fn k(&mut self, max: i32) -> i32 {
        self.rng.random_range(0..=max)
    }

    fn source(&mut self) -> &'static Source {
        SOURCES.choose(&mut self.rng).expect("sources")
    }

    pub fn next(&mut self) -> Op {
        let roll = self.rng.random_range(0..100);
        if roll < 15 {
            Op::Write(self.write())
        } else if roll < 20 {
            Op::Write(self.scratch_write())
        } else if roll < 27 {
            Op::Probe(self.probe())
        } else if roll < 31 {
            let (sql, column) = *LISTINGS.choose(&mut self.rng).expect("listings");
            Op::Listing { sql, column }
        } else if roll < 32 {
            Op::Users
        } else {
            Op::Read(self.read())
        }
    }

    /// A predicate over `notes` (columns id, owner, val, tag), possibly with subqueries.
    pub fn notes_filter(&mut self) -> String {
        let one = |g: &mut Grammar| -> String {
            let k = g.k(9);
            match g.rng.random_range(0..11) {
                0 => format!("id > {k}"),
                1 => format!("id <= {k}"),
                2 => "val % 2 = 0".into(),
                3 => "owner = CURRENT_USER()".into(),
                4 => "owner <> CURRENT_USER()".into(),
                5 => "tag LIKE 'mk_%'".into(),
                6 => format!("id BETWEEN {k} AND {}", k + 3),
                7 => {
                    let s = g.source();
                    format!("id IN (SELECT id FROM {} WHERE {} > {k})", s.name, s.value)
                }
                8 => format!("EXISTS (SELECT 1 FROM items i WHERE i.id = notes.id AND i.qty > {k})"),
                9 => "val > (SELECT MIN(val) FROM notes)".into(),
                _ => format!("id = {k}"),
            }
        };
        match self.rng.random_range(0..4) {
            0 => format!("{} AND {}", one(self), one(self)),
            1 => format!("({} OR {})", one(self), one(self)),
            _ => one(self),
        }
    }

    fn write(&mut self) -> Write {
        match self.rng.random_range(0..8) {
            0 => Write::InsertNote { id: self.rng.random_range(1..=24), val: self.k(50) },
            1 => Write::CopyNotesToItems { offset: self.rng.random_range(6..=40), filter: self.notes_filter() },
            2 => Write::BumpNotes { filter: self.notes_filter() },
            3 => Write::DeleteNotes { filter: self.notes_filter() },
            4 => Write::BumpItem { id: self.rng.random_range(1..=10) },
            5 => Write::DeleteItem { id: self.rng.random_range(1..=10) },
            6 => Write::TruncateEvents,
            _ => Write::InsertEvent { n: self.k(20) },
        }
    }

    fn scratch_write(&mut self) -> Write {
        let table = self.rng.random_range(0..crate::world::SCRATCH.len());
        let id = self.next_scratch_id;
        self.next_scratch_id += 1;
        let write = match self.rng.random_range(0..6) {
            0 | 1 => ScratchWrite::Insert(id),
            2 => ScratchWrite::Delete,
            3 => ScratchWrite::Truncate,
            4 => ScratchWrite::ExplainInsert(id),
            _ => ScratchWrite::ExplainTruncate,
        };
        Write::Scratch { table, write }
    }

    fn probe(&mut self) -> String {
        let read = self.read();
        match self.rng.random_range(0..6) {
            0 => format!("EXPLAIN {read}"),
            1 => format!("EXPLAIN ANALYZE {read}"),
            2 => "SELECT id, owner, val, tag, _seq, _updated, _deleted FROM notes".into(),
            3 => "SELECT *, _deleted FROM items WHERE _deleted OR NOT _deleted".into(),
            4 => format!("EXPLAIN ANALYZE UPDATE notes SET val = val + 1 WHERE {}", self.notes_filter()),
            _ => format!("EXPLAIN ANALYZE DELETE FROM notes WHERE {}", self.notes_filter()),
        }
    }

    /// A query both the engine and the oracle answer deterministically.
    pub fn read(&mut self) -> String {
        let a = self.source();
        let b = self.source();
        let k = self.k(9);
        match self.rng.random_range(0..18) {
            0 => format!("SELECT * FROM {} WHERE id > {k}", a.name),
            // A LIMIT the scan sees: deterministic as a count, or when it exceeds the rows.
            16 => format!("SELECT COUNT(*) FROM (SELECT * FROM {} LIMIT {})", a.name, k + 1),
            17 => format!("SELECT * FROM {} LIMIT 1000", a.name),
            1 => format!("SELECT COUNT(*), SUM({v}), MIN({t}), MAX({t}) FROM {}", a.name, v = a.value, t = a.text),
            2 => format!("SELECT x.id, x.{}, y.{} FROM {} x JOIN {} y ON x.id = y.id", a.text, b.text, a.name, b.name),
            3 => format!("SELECT x.id, y.{} FROM {} x LEFT JOIN {} y ON x.id = y.id", b.value, a.name, b.name),
            4 => "SELECT x.id, y.val FROM notes x JOIN notes y ON x.id = y.id + 1".into(),
            5 => format!("SELECT * FROM {} WHERE id IN (SELECT id FROM {} WHERE {} > {k})", a.name, b.name, b.value),
            6 => format!("SELECT x.* FROM {} x WHERE EXISTS (SELECT 1 FROM {} y WHERE y.id = x.id)", a.name, b.name),
            7 => format!("SELECT id, (SELECT MAX({}) FROM {}) FROM {}", b.value, b.name, a.name),
            8 => format!(
                "WITH c AS (SELECT id, {} AS v FROM {} WHERE id > {k}) SELECT c.id, c.v, y.{} FROM c JOIN {} y ON c.id = y.id",
                a.value, a.name, b.text, b.name
            ),
            9 => {
                let op = ["UNION", "UNION ALL", "INTERSECT", "EXCEPT"].choose(&mut self.rng).expect("ops");
                format!("SELECT id FROM {} {op} SELECT id FROM {}", a.name, b.name)
            }
            10 => format!(
                "SELECT id, {t}, ROW_NUMBER() OVER (ORDER BY id), SUM({v}) OVER (ORDER BY id) FROM {}",
                a.name,
                t = a.text,
                v = a.value
            ),
            11 => format!("SELECT {v} % 3, COUNT(*), SUM({v}) FROM {} GROUP BY {v} % 3", a.name, v = a.value),
            12 => ["SELECT owner, COUNT(*), SUM(val) FROM notes GROUP BY owner", "SELECT owner, SUM(n) FROM events GROUP BY owner"]
                .choose(&mut self.rng)
                .expect("queries")
                .to_string(),
            13 => format!("SELECT * FROM {} ORDER BY id LIMIT {}", a.name, k + 1),
            14 => format!("SELECT n FROM events UNION SELECT id FROM {}", a.name),
            _ => format!("SELECT * FROM notes WHERE {}", self.notes_filter()),
        }
    }
}
