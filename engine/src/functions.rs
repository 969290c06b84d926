//! SQL functions whose values come from the engine rather than the OS:
//! `NOW()`/`CURRENT_TIMESTAMP`, `CURRENT_DATE`/`today()` and `CURRENT_TIME` (the
//! configured clock), `SNOWFLAKE_ID()` and `UUID()` (the configured id source), and
//! `CURRENT_USER()` (the statement's effective user, which the session sets around each
//! statement with [`with_effective_user`]). They replace DataFusion's built-ins of the
//! same names in every session, so DEFAULT expressions and queries agree with `_updated`
//! under a test clock.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::clock::Clock;
use crate::ids::{IdSource, SnowflakeGenerator, format_uuid};

/// The timezone DataFusion's own `now()` reports.
const UTC: &str = "+00:00";

/// Everything the engine's functions draw on, shared by all sessions.
#[derive(Debug)]
pub struct FunctionContext {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub snowflakes: SnowflakeGenerator,
}

tokio::task_local! {
    static EFFECTIVE_USER: Arc<str>;
    static FIXED_INSTANT: Option<i64>;
}

/// Runs `work` (one statement) with `NOW()`, `CURRENT_DATE` and `CURRENT_TIME` reading
/// `instant` instead of the clock (a transaction block's start), when one is given.
pub async fn at_instant<F: Future>(instant: Option<i64>, work: F) -> F::Output {
    FIXED_INSTANT.scope(instant, work).await
}

/// The instant the clock functions read: the statement's fixed one, or the clock's now.
fn instant_now(context: &FunctionContext) -> i64 {
    FIXED_INSTANT.try_with(|fixed| *fixed).ok().flatten().unwrap_or_else(|| context.clock.now_millis())
}

/// Runs `work` (one statement) with `user` as the value of `CURRENT_USER()`.
pub async fn with_effective_user<F: Future>(user: &str, work: F) -> F::Output {
    EFFECTIVE_USER.scope(Arc::from(user), work).await
}

/// The effective user of the statement running on this task, if any.
pub fn effective_user() -> Option<Arc<str>> {
    EFFECTIVE_USER.try_with(Arc::clone).ok()
}

/// What a statement's functions read from its task (its effective user and fixed
/// instant), captured so that the statement's rows can be produced later, outside the
/// statement's own future (a streamed result read batch by batch).
#[derive(Debug, Clone, Default)]
pub struct StatementScope {
    user: Option<Arc<str>>,
    instant: Option<i64>,
}

impl StatementScope {
    /// The scope of the statement running on this task.
    pub fn current() -> StatementScope {
        StatementScope { user: effective_user(), instant: FIXED_INSTANT.try_with(|fixed| *fixed).ok().flatten() }
    }

    /// Runs `work` (one step of the statement) in the captured scope.
    pub fn enter<R>(&self, work: impl FnOnce() -> R) -> R {
        FIXED_INSTANT.sync_scope(self.instant, || match &self.user {
            Some(user) => EFFECTIVE_USER.sync_scope(user.clone(), work),
            None => work(),
        })
    }
}

/// The engine's replacements for DataFusion's built-ins, ready to register.
pub fn engine_functions(context: &Arc<FunctionContext>) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(NowFunction::new(context.clone())),
        ScalarUDF::new_from_impl(ClockPartFunction::new(context.clone(), ClockPart::Date)),
        ScalarUDF::new_from_impl(ClockPartFunction::new(context.clone(), ClockPart::Time)),
        ScalarUDF::new_from_impl(SnowflakeIdFunction::new(context.clone())),
        ScalarUDF::new_from_impl(UuidFunction::new(context.clone())),
        ScalarUDF::new_from_impl(CurrentUserFunction::new(context.clone())),
        pg_function("pg_get_userbyid", "pg_catalog.pg_get_userbyid", DataType::Int64, DataType::Utf8, |oid| match oid {
            // Every object says root owns it (`system/pg_catalog.rs`).
            ScalarValue::Int64(Some(10)) => ScalarValue::Utf8(Some("root".into())),
            _ => ScalarValue::Utf8(None),
        }),
        // Every table a reader may list is visible to it.
        pg_function("pg_table_is_visible", "pg_catalog.pg_table_is_visible", DataType::Int64, DataType::Boolean, |_| {
            ScalarValue::Boolean(Some(true))
        }),
        // psql's `\l` calls it qualified.
        datafusion::functions_nested::string::array_to_string_udf().as_ref().clone().with_aliases(["pg_catalog.array_to_string"]),
        pg_function("pg_encoding_to_char", "pg_catalog.pg_encoding_to_char", DataType::Int32, DataType::Utf8, |encoding| match encoding {
            ScalarValue::Int32(Some(6)) => ScalarValue::Utf8(Some("UTF8".into())),
            _ => ScalarValue::Utf8(Some(String::new())),
        }),
    ]
}

/// A one-argument function of PostgreSQL's catalog that psql's listings call, by its name
/// and by its `pg_catalog.` qualified name.
fn pg_function(
    name: &str,
    qualified: &'static str,
    argument: DataType,
    returns: DataType,
    value: fn(&ScalarValue) -> ScalarValue,
) -> ScalarUDF {
    let result_type = returns.clone();
    let function = move |arguments: &[ColumnarValue]| -> DfResult<ColumnarValue> {
        Ok(match &arguments[0] {
            ColumnarValue::Scalar(scalar) => ColumnarValue::Scalar(value(scalar)),
            ColumnarValue::Array(array) => {
                let values =
                    (0..array.len()).map(|row| ScalarValue::try_from_array(array, row).map(|v| value(&v))).collect::<DfResult<Vec<_>>>()?;
                if values.is_empty() {
                    ColumnarValue::Array(datafusion::arrow::array::new_empty_array(&result_type))
                } else {
                    ColumnarValue::Array(ScalarValue::iter_to_array(values)?)
                }
            }
        })
    };
    datafusion::logical_expr::create_udf(name, vec![argument], returns, Volatility::Immutable, Arc::new(function)).with_aliases([qualified])
}

macro_rules! identity_by_name {
    ($name:ident) => {
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.context, &other.context)
            }
        }
        impl Eq for $name {}
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                ScalarUDFImpl::name(self).hash(state);
            }
        }
    };
}

/// `NOW()` and `CURRENT_TIMESTAMP`: the engine clock, constant within a statement.
#[derive(Debug)]
struct NowFunction {
    context: Arc<FunctionContext>,
    signature: Signature,
    aliases: Vec<String>,
}

impl NowFunction {
    fn new(context: Arc<FunctionContext>) -> Self {
        NowFunction { context, signature: Signature::nullary(Volatility::Stable), aliases: vec!["current_timestamp".to_string()] }
    }

    fn value(&self) -> ScalarValue {
        let millis = instant_now(&self.context);
        ScalarValue::TimestampNanosecond(Some(millis * 1_000_000), Some(UTC.into()))
    }
}

identity_by_name!(NowFunction);

impl ScalarUDFImpl for NowFunction {
    fn name(&self) -> &str {
        "now"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into())))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value()))
    }

    fn simplify(&self, _args: Vec<Expr>, _info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(self.value(), None)))
    }
}

/// Which part of the clock's instant a [`ClockPartFunction`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClockPart {
    /// `CURRENT_DATE` (alias `today()`): the UTC date, DATE.
    Date,
    /// `CURRENT_TIME`: the UTC time of day, TIME with nanoseconds.
    Time,
}

/// `CURRENT_DATE` and `CURRENT_TIME` from the engine clock, constant within a statement
/// (DataFusion's built-ins read the OS clock).
#[derive(Debug)]
struct ClockPartFunction {
    context: Arc<FunctionContext>,
    part: ClockPart,
    signature: Signature,
    aliases: Vec<String>,
}

impl ClockPartFunction {
    fn new(context: Arc<FunctionContext>, part: ClockPart) -> Self {
        let aliases = match part {
            ClockPart::Date => vec!["today".to_string()],
            ClockPart::Time => Vec::new(),
        };
        ClockPartFunction { context, part, signature: Signature::nullary(Volatility::Stable), aliases }
    }

    fn value(&self) -> ScalarValue {
        const MILLIS_PER_DAY: i64 = 86_400_000;
        let millis = instant_now(&self.context);
        match self.part {
            ClockPart::Date => ScalarValue::Date32(Some(millis.div_euclid(MILLIS_PER_DAY) as i32)),
            ClockPart::Time => ScalarValue::Time64Nanosecond(Some(millis.rem_euclid(MILLIS_PER_DAY) * 1_000_000)),
        }
    }
}

impl PartialEq for ClockPartFunction {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.context, &other.context) && self.part == other.part
    }
}

impl Eq for ClockPartFunction {}

impl Hash for ClockPartFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.part.hash(state);
    }
}

impl ScalarUDFImpl for ClockPartFunction {
    fn name(&self) -> &str {
        match self.part {
            ClockPart::Date => "current_date",
            ClockPart::Time => "current_time",
        }
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.part {
            ClockPart::Date => DataType::Date32,
            ClockPart::Time => DataType::Time64(TimeUnit::Nanosecond),
        })
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value()))
    }

    fn simplify(&self, _args: Vec<Expr>, _info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(self.value(), None)))
    }
}

/// `SNOWFLAKE_ID()`: a unique, increasing BIGINT per row.
#[derive(Debug)]
struct SnowflakeIdFunction {
    context: Arc<FunctionContext>,
    signature: Signature,
}

impl SnowflakeIdFunction {
    fn new(context: Arc<FunctionContext>) -> Self {
        SnowflakeIdFunction { context, signature: Signature::nullary(Volatility::Volatile) }
    }
}

identity_by_name!(SnowflakeIdFunction);

impl ScalarUDFImpl for SnowflakeIdFunction {
    fn name(&self) -> &str {
        "snowflake_id"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self, _args: &[Expr], _schema: &dyn datafusion::common::ExprSchema) -> bool {
        false
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let clock = self.context.clock.as_ref();
        let values: Int64Array = (0..args.number_rows.max(1)).map(|_| self.context.snowflakes.next_id(clock)).collect();
        Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
    }
}

/// `UUID()`: a version-4 UUID string per row, from the configured id source.
#[derive(Debug)]
struct UuidFunction {
    context: Arc<FunctionContext>,
    signature: Signature,
}

impl UuidFunction {
    fn new(context: Arc<FunctionContext>) -> Self {
        UuidFunction { context, signature: Signature::nullary(Volatility::Volatile) }
    }
}

identity_by_name!(UuidFunction);

impl ScalarUDFImpl for UuidFunction {
    fn name(&self) -> &str {
        "uuid"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_nullable(&self, _args: &[Expr], _schema: &dyn datafusion::common::ExprSchema) -> bool {
        false
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let values: StringArray = (0..args.number_rows.max(1)).map(|_| Some(format_uuid(self.context.ids.next_u128()))).collect();
        Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
    }
}

/// `CURRENT_USER()` (also written `CURRENT_USER`): the statement's effective user, a
/// constant within the statement.
#[derive(Debug)]
struct CurrentUserFunction {
    context: Arc<FunctionContext>,
    signature: Signature,
}

impl CurrentUserFunction {
    fn new(context: Arc<FunctionContext>) -> Self {
        CurrentUserFunction { context, signature: Signature::nullary(Volatility::Stable) }
    }

    fn value(&self) -> DfResult<ScalarValue> {
        match effective_user() {
            Some(user) => Ok(ScalarValue::Utf8(Some(user.to_string()))),
            None => {
                Err(datafusion::common::DataFusionError::Execution("CURRENT_USER() has no value outside a statement of a session".into()))
            }
        }
    }
}

identity_by_name!(CurrentUserFunction);

impl ScalarUDFImpl for CurrentUserFunction {
    fn name(&self) -> &str {
        "current_user"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_nullable(&self, _args: &[Expr], _schema: &dyn datafusion::common::ExprSchema) -> bool {
        false
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value()?))
    }

    /// Outside a statement (a DEFAULT prepared when the engine opens) the call stays, and
    /// is evaluated per INSERT.
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        Ok(match effective_user() {
            Some(_) => ExprSimplifyResult::Simplified(Expr::Literal(self.value()?, None)),
            None => ExprSimplifyResult::Original(args),
        })
    }
}
