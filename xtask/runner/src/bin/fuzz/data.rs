//! Column types and values: random values of every type with a bias towards the edges
//! (NULL, each type's extremes, `-0.0`, NaN, infinities, Unicode and duplicate-looking
//! text such as `'a'`, `'a '`, `'A'`), their SQL literals (in the shapes the engine's
//! simple-statement path reads, or typed with CAST, which goes through the planner), how
//! the model renders them (the same text as [`crate::render`] gives the engine's cells),
//! and their key identity (how the engine decides two keys are one).

use std::sync::Arc;

use engine::exports::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    StringArray, TimestampNanosecondArray, UInt64Array,
};
use engine::exports::arrow::datatypes::{DataType, TimeUnit};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// A column type of the generated schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    UBigInt,
    Real,
    Double,
    /// DECIMAL(10, 2).
    Decimal,
    Bool,
    Text,
    Date,
    Timestamp,
}

pub const ALL_TYPES: [Ty; 12] = [
    Ty::TinyInt,
    Ty::SmallInt,
    Ty::Int,
    Ty::BigInt,
    Ty::UBigInt,
    Ty::Real,
    Ty::Double,
    Ty::Decimal,
    Ty::Bool,
    Ty::Text,
    Ty::Date,
    Ty::Timestamp,
];

/// DECIMAL(10, 2): the largest unscaled value.
const DECIMAL_MAX: i128 = 9_999_999_999;

impl Ty {
    pub fn sql(self) -> &'static str {
        match self {
            Ty::TinyInt => "TINYINT",
            Ty::SmallInt => "SMALLINT",
            Ty::Int => "INT",
            Ty::BigInt => "BIGINT",
            Ty::UBigInt => "BIGINT UNSIGNED",
            Ty::Real => "REAL",
            Ty::Double => "DOUBLE",
            Ty::Decimal => "DECIMAL(10, 2)",
            Ty::Bool => "BOOLEAN",
            Ty::Text => "TEXT",
            Ty::Date => "DATE",
            Ty::Timestamp => "TIMESTAMP",
        }
    }

    pub fn is_int(self) -> bool {
        matches!(self, Ty::TinyInt | Ty::SmallInt | Ty::Int | Ty::BigInt | Ty::UBigInt)
    }

    pub fn is_float(self) -> bool {
        matches!(self, Ty::Real | Ty::Double)
    }

    pub fn is_numeric(self) -> bool {
        self.is_int() || self.is_float() || self == Ty::Decimal
    }

    /// Types whose SUM is exact whatever the order of the rows (floats are not: their
    /// sums round differently by order, which no oracle here may treat as a bug).
    pub fn exact_sum(self) -> bool {
        matches!(self, Ty::TinyInt | Ty::SmallInt | Ty::Int | Ty::Decimal)
    }

    /// Two columns of these types compare without surprises of coercion.
    pub fn family(self) -> u8 {
        match self {
            t if t.is_numeric() => 0,
            Ty::Bool => 1,
            Ty::Text => 2,
            Ty::Date => 3,
            Ty::Timestamp => 4,
            _ => 5,
        }
    }

    fn int_range(self) -> (i128, i128) {
        match self {
            Ty::TinyInt => (i8::MIN as i128, i8::MAX as i128),
            Ty::SmallInt => (i16::MIN as i128, i16::MAX as i128),
            Ty::Int => (i32::MIN as i128, i32::MAX as i128),
            Ty::BigInt => (i64::MIN as i128, i64::MAX as i128),
            Ty::UBigInt => (0, u64::MAX as i128),
            _ => (0, 0),
        }
    }

    /// The Arrow type the engine gives the column (text aside: Utf8View in the engine,
    /// Utf8 in the model; both render alike).
    pub fn arrow(self) -> DataType {
        match self {
            Ty::TinyInt => DataType::Int8,
            Ty::SmallInt => DataType::Int16,
            Ty::Int => DataType::Int32,
            Ty::BigInt => DataType::Int64,
            Ty::UBigInt => DataType::UInt64,
            Ty::Real => DataType::Float32,
            Ty::Double => DataType::Float64,
            Ty::Decimal => DataType::Decimal128(10, 2),
            Ty::Bool => DataType::Boolean,
            Ty::Text => DataType::Utf8,
            Ty::Date => DataType::Date32,
            Ty::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
        }
    }
}

/// A value of one of the types above (ints of every width share `Int`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i128),
    F32(f32),
    F64(f64),
    /// DECIMAL(10, 2), unscaled.
    Dec(i128),
    Bool(bool),
    Text(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Nanoseconds since 1970-01-01T00:00:00.
    Ts(i64),
}

/// Text values chosen to look alike, to differ only in case, trailing space, normalisation
/// or width, and to be awkward in SQL and in Parquet statistics.
pub const TEXTS: [&str; 30] = [
    "",
    "a",
    "a ",
    " a",
    "A",
    "b",
    "ab",
    "a b",
    "aa",
    "Z",
    "z",
    "ä",
    "a\u{308}",
    "Ä",
    "ß",
    "SS",
    "ss",
    "🙂",
    "日本語",
    "Ünïcødé ✓",
    "it''s",
    "%",
    "_",
    "a%",
    "NULL",
    "null",
    "0",
    "-0",
    "\t",
    "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
];

const DATES: [i32; 9] = [0, -1, 1, 19_782, 19_723, -719_162, 2_932_896, 11_016, -25_567];

/// Some instants in nanoseconds: the epoch, the test clock's start, leap days, one
/// nanosecond around the epoch, and the ends of what Timestamp(ns) holds.
const TIMESTAMPS: [i64; 9] = [
    0,
    -1,
    1,
    1_704_067_200_000_000_000,
    1_709_164_800_123_456_789,
    951_782_400_000_000_000,
    i64::MIN + 1_000,
    i64::MAX - 1_000,
    -86_400_000_000_000,
];

fn special_f64(rng: &mut StdRng) -> f64 {
    *[
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.5,
        -1.5,
        1.0,
        -1.0,
        2.0,
        0.1,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        1e15,
        9_007_199_254_740_993.0,
        -123.25,
    ]
    .choose(rng)
    .expect("values")
}

fn special_f32(rng: &mut StdRng) -> f32 {
    *[
        0.0,
        -0.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.5,
        -1.5,
        1.0,
        -1.0,
        0.1,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        1e-45,
        16_777_217.0,
    ]
    .choose(rng)
    .expect("values")
}

impl Value {
    /// A random non-NULL value of `ty`. `small` keeps values in a narrow range, so keys and
    /// predicates meet each other often.
    pub fn random(ty: Ty, rng: &mut StdRng) -> Value {
        let edge = rng.random_bool(0.35);
        match ty {
            t if t.is_int() => {
                let (lo, hi) = t.int_range();
                if edge {
                    let v = *[lo, hi, lo + 1, hi - 1, 0, 1, -1, 2].choose(rng).expect("values");
                    Value::Int(v.clamp(lo, hi))
                } else {
                    Value::Int(rng.random_range(-8i128..=8).clamp(lo, hi))
                }
            }
            Ty::Double => Value::F64(if edge { special_f64(rng) } else { rng.random_range(-8..=8) as f64 / 2.0 }),
            Ty::Real => Value::F32(if edge { special_f32(rng) } else { rng.random_range(-8..=8) as f32 / 2.0 }),
            Ty::Decimal => Value::Dec(if edge {
                *[DECIMAL_MAX, -DECIMAL_MAX, 0, 1, -1, 100, 12_345, -1_050].choose(rng).expect("values")
            } else {
                rng.random_range(-8..=8) * 25
            }),
            Ty::Bool => Value::Bool(rng.random_bool(0.5)),
            Ty::Text => Value::Text(if edge || rng.random_bool(0.5) {
                TEXTS.choose(rng).expect("texts").replace("''", "'")
            } else {
                ["a", "b", "c", "A", "ab", "ba"].choose(rng).expect("texts").to_string()
            }),
            Ty::Date => Value::Date(if edge { *DATES.choose(rng).expect("dates") } else { 19_723 + rng.random_range(-4..=4) }),
            Ty::Timestamp => Value::Ts(if edge {
                *TIMESTAMPS.choose(rng).expect("instants")
            } else {
                1_704_067_200_000_000_000 + rng.random_range(-4i64..=4) * 1_500_000_000
            }),
            _ => unreachable!("all types covered"),
        }
    }

    /// A random value of `ty`, NULL with probability `nulls`.
    pub fn random_or_null(ty: Ty, nulls: f64, rng: &mut StdRng) -> Value {
        if rng.random_bool(nulls) { Value::Null } else { Value::random(ty, rng) }
    }

    /// The SQL literal for this value in a column of type `ty`. `plain` picks the forms the
    /// simple-statement path reads (integers, `1.5`, `'text'`, TRUE/FALSE/NULL) where one
    /// exists; otherwise a typed form (CAST, DATE '...').
    pub fn literal(&self, ty: Ty, plain: bool) -> String {
        match self {
            Value::Null if plain => "NULL".into(),
            Value::Null => format!("CAST(NULL AS {})", ty.sql()),
            Value::Int(v) if plain => v.to_string(),
            Value::Int(v) if *v < 0 => format!("CAST('{v}' AS {})", ty.sql()),
            Value::Int(v) => format!("CAST({v} AS {})", ty.sql()),
            Value::F64(v) => float_literal(*v, v.to_string(), "DOUBLE", plain),
            Value::F32(v) => float_literal(*v as f64, v.to_string(), "REAL", plain),
            Value::Dec(v) if plain => decimal_text(*v),
            Value::Dec(v) => format!("CAST('{}' AS DECIMAL(10, 2))", decimal_text(*v)),
            Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
            Value::Text(s) => quote(s),
            Value::Date(d) if plain => format!("'{}'", date_text(*d)),
            Value::Date(d) => format!("DATE '{}'", date_text(*d)),
            Value::Ts(t) if plain => format!("'{}'", timestamp_text(*t)),
            Value::Ts(t) => format!("CAST('{}' AS TIMESTAMP)", timestamp_text(*t)),
        }
    }

    /// The model's rendering, equal to [`crate::render::cell`] of the engine's value.
    pub fn render(&self, strict_zero: bool) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Int(v) => v.to_string(),
            Value::F64(v) => crate::render::float_text(*v, strict_zero),
            Value::F32(v) => crate::render::float_text(*v, strict_zero),
            Value::Dec(v) => format!("{v}e-2"),
            Value::Bool(b) => b.to_string(),
            Value::Text(s) => s.clone(),
            Value::Date(d) => format!("d{d}"),
            Value::Ts(t) => format!("ts{t}ns"),
        }
    }

    /// Two key values are one key when these are equal: floats compare as SQL values
    /// (`0.0` and `-0.0` are one key, every NaN is one key), per the README.
    pub fn key_identity(&self) -> String {
        match self {
            Value::F64(v) if v.is_nan() => "NaN".into(),
            Value::F32(v) if v.is_nan() => "NaN".into(),
            Value::F64(v) if *v == 0.0 => "0".into(),
            Value::F32(v) if *v == 0.0 => "0".into(),
            Value::Text(s) => format!("'{s}'"),
            other => other.render(true),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

fn float_literal(v: f64, shortest: String, sql_type: &str, plain: bool) -> String {
    if v.is_nan() {
        format!("CAST('NaN' AS {sql_type})")
    } else if v.is_infinite() {
        format!("CAST('{}' AS {sql_type})", if v > 0.0 { "inf" } else { "-inf" })
    } else if v == 0.0 && v.is_sign_negative() {
        if plain { "-0.0".into() } else { format!("CAST('-0' AS {sql_type})") }
    } else if plain && !shortest.contains('e') {
        if shortest.contains('.') { shortest } else { format!("{shortest}.0") }
    } else {
        format!("CAST('{shortest}' AS {sql_type})")
    }
}

pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn decimal_text(v: i128) -> String {
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", v.abs() / 100, v.abs() % 100)
}

/// Civil date from days since the epoch (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn date_text(days: i32) -> String {
    let (y, m, d) = civil(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn timestamp_text(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// One column of model values as an Arrow array of the column's type.
pub fn to_array(ty: Ty, values: &[&Value]) -> ArrayRef {
    // An array of `$array` from the values of variant `$variant` (each bound to `$v` and
    // turned into a cell by `$cell`); any other value is NULL.
    macro_rules! column {
        ($array:ty, $variant:ident, $v:ident => $cell:expr) => {
            <$array>::from(
                values
                    .iter()
                    .map(|value| match value {
                        Value::$variant($v) => Some($cell),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
        };
    }
    match ty {
        Ty::TinyInt => Arc::new(column!(Int8Array, Int, i => *i as i8)),
        Ty::SmallInt => Arc::new(column!(Int16Array, Int, i => *i as i16)),
        Ty::Int => Arc::new(column!(Int32Array, Int, i => *i as i32)),
        Ty::BigInt => Arc::new(column!(Int64Array, Int, i => *i as i64)),
        Ty::UBigInt => Arc::new(column!(UInt64Array, Int, i => *i as u64)),
        Ty::Real => Arc::new(column!(Float32Array, F32, f => *f)),
        Ty::Double => Arc::new(column!(Float64Array, F64, f => *f)),
        Ty::Decimal => Arc::new(column!(Decimal128Array, Dec, d => *d).with_precision_and_scale(10, 2).expect("a valid decimal type")),
        Ty::Bool => Arc::new(column!(BooleanArray, Bool, b => *b)),
        Ty::Text => Arc::new(column!(StringArray, Text, s => s.as_str())),
        Ty::Date => Arc::new(column!(Date32Array, Date, d => *d)),
        Ty::Timestamp => Arc::new(column!(TimestampNanosecondArray, Ts, t => *t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(-1), "1969-12-31");
        assert_eq!(date_text(19_782), "2024-02-29");
        assert_eq!(date_text(-719_162), "0001-01-01");
        assert_eq!(timestamp_text(-1), "1969-12-31T23:59:59.999999999");
        assert_eq!(timestamp_text(1_704_067_200_000_000_000), "2024-01-01T00:00:00.000000000");
    }
}
