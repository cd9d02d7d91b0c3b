//! Scalar functions faultline adds to SQL: `kfl_datetime(text)`, KFL's `datetime()` helper, and
//! a `date_trunc` that lets time-bucketed filters prune the scan.
//!
//! `date_trunc` is DataFusion's own function with one addition: its *preimage*. A filter such as
//! `date_trunc('minute', "timestamp") >= '2021-10-19T18:29:00Z'` (what a `WHERE minute >= …` on
//! a per-minute view becomes) is rewritten by DataFusion's simplifier to
//! `"timestamp" >= '2021-10-19T18:29:00Z'`, which Parquet statistics and partition pruning
//! understand. Results are unchanged: every call is delegated to the built-in.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::common::utils::take_function_args;
use datafusion::error::{DataFusionError, Result};
use datafusion::functions::datetime::date_trunc::DateTruncFunc;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use faultline_kfl::time::{DATETIME_LAYOUT, parse_datetime};

/// Name of the SQL function that parses KFL's `datetime()` text.
pub const KFL_DATETIME: &str = "kfl_datetime";

/// Registers [`KFL_DATETIME`] and the pruning-aware `date_trunc` in `ctx` (replacing the
/// built-in `date_trunc`, which it wraps).
pub fn register_functions(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(KflDatetime::new()));
    ctx.register_udf(ScalarUDF::new_from_impl(PrunableDateTrunc::default()));
}

/// The timezone of every faultline timestamp.
fn utc() -> Option<Arc<str>> {
    Some("UTC".into())
}

/// `kfl_datetime(text)`: KFL's `datetime("10/19/2021, 6:29:02.123 PM")` (UTC, milliseconds
/// optional) as a `Timestamp(µs, UTC)`; NULL stays NULL, text in another layout is an error.
#[derive(Debug, PartialEq, Eq, Hash)]
struct KflDatetime {
    signature: Signature,
}

impl KflDatetime {
    fn new() -> Self {
        Self {
            signature: Signature::string(1, Volatility::Immutable),
        }
    }
}

/// Parses one `datetime()` text; the error names the expected layout.
fn datetime_us(text: &str) -> Result<i64> {
    parse_datetime(text).ok_or_else(|| {
        DataFusionError::Execution(format!(
            "{KFL_DATETIME}: '{text}' is not a KFL datetime ({DATETIME_LAYOUT}, UTC)"
        ))
    })
}

impl ScalarUDFImpl for KflDatetime {
    fn name(&self) -> &str {
        KFL_DATETIME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, utc()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [text] = take_function_args(self.name(), args.args)?;
        match text {
            ColumnarValue::Scalar(s) => {
                let text = s.try_as_str().flatten();
                let us = text.map(datetime_us).transpose()?;
                Ok(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(
                    us,
                    utc(),
                )))
            }
            ColumnarValue::Array(a) => {
                let strings = cast(&a, &DataType::Utf8)?;
                let strings = strings
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| {
                        DataFusionError::Internal(format!("{KFL_DATETIME}: cast to Utf8 failed"))
                    })?;
                let us = strings
                    .iter()
                    .map(|t| t.map(datetime_us).transpose())
                    .collect::<Result<TimestampMicrosecondArray>>()?;
                let out: ArrayRef = Arc::new(us.with_timezone("UTC"));
                Ok(ColumnarValue::Array(out))
            }
        }
    }
}

/// DataFusion's `date_trunc` plus a preimage for the fixed-length units in UTC, so that
/// comparisons of a truncated timestamp with a bucket boundary become plain range filters on
/// the timestamp.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
struct PrunableDateTrunc {
    inner: DateTruncFunc,
}

/// Length of a `date_trunc` unit in microseconds, for the units whose buckets have one fixed
/// length in UTC (weeks start on Monday, months and years vary: no preimage for those).
fn unit_us(unit: &str) -> Option<i64> {
    match unit.to_ascii_lowercase().as_str() {
        "microsecond" => Some(1),
        "millisecond" => Some(1_000),
        "second" => Some(1_000_000),
        "minute" => Some(60_000_000),
        "hour" => Some(3_600_000_000),
        "day" => Some(86_400_000_000),
        _ => None,
    }
}

/// A timestamp literal as (value, ticks per µs divisor, timezone); `None` for anything else.
fn timestamp_parts(v: &ScalarValue) -> Option<(i64, TimeUnit, Option<Arc<str>>)> {
    match v {
        ScalarValue::TimestampSecond(Some(t), tz) => Some((*t, TimeUnit::Second, tz.clone())),
        ScalarValue::TimestampMillisecond(Some(t), tz) => {
            Some((*t, TimeUnit::Millisecond, tz.clone()))
        }
        ScalarValue::TimestampMicrosecond(Some(t), tz) => {
            Some((*t, TimeUnit::Microsecond, tz.clone()))
        }
        ScalarValue::TimestampNanosecond(Some(t), tz) => {
            Some((*t, TimeUnit::Nanosecond, tz.clone()))
        }
        _ => None,
    }
}

fn timestamp_value(t: i64, unit: TimeUnit, tz: Option<Arc<str>>) -> ScalarValue {
    match unit {
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(t), tz),
        TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(t), tz),
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(t), tz),
        TimeUnit::Nanosecond => ScalarValue::TimestampNanosecond(Some(t), tz),
    }
}

/// A bucket length of `us` microseconds in ticks of `unit`; `None` when shorter than a tick.
fn ticks(us: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => (us % 1_000_000 == 0).then_some(us / 1_000_000),
        TimeUnit::Millisecond => (us % 1_000 == 0).then_some(us / 1_000),
        TimeUnit::Microsecond => Some(us),
        TimeUnit::Nanosecond => us.checked_mul(1_000),
    }
}

fn is_utc(tz: Option<&str>) -> bool {
    matches!(tz, None | Some("UTC" | "utc" | "+00:00" | "Z"))
}

/// The timestamps `t` with `date_trunc(unit, t) = boundary`: `[boundary, boundary + unit)`
/// when `boundary` is a bucket start of a fixed-length unit in UTC; `None` otherwise (the
/// comparison is then left as written).
fn bucket_preimage(unit: &str, boundary: &ScalarValue) -> Option<(ScalarValue, ScalarValue)> {
    let (t, time_unit, tz) = timestamp_parts(boundary)?;
    if !is_utc(tz.as_deref()) {
        return None;
    }
    let len = ticks(unit_us(unit)?, time_unit)?;
    if t.rem_euclid(len) != 0 {
        return None;
    }
    let end = t.checked_add(len)?;
    Some((
        timestamp_value(t, time_unit, tz.clone()),
        timestamp_value(end, time_unit, tz),
    ))
}

impl ScalarUDFImpl for PrunableDateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        _info: &SimplifyContext,
    ) -> Result<PreimageResult> {
        let [unit, value] = args else {
            return Ok(PreimageResult::None);
        };
        let unit = unit.as_literal().and_then(|u| u.try_as_str().flatten());
        let boundary = lit_expr.as_literal();
        let Some((lower, upper)) = unit.zip(boundary).and_then(|(u, b)| bucket_preimage(u, b))
        else {
            return Ok(PreimageResult::None);
        };
        Ok(PreimageResult::Range {
            expr: value.clone(),
            interval: Box::new(Interval::try_new(lower, upper)?),
        })
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    fn us(t: i64) -> ScalarValue {
        ScalarValue::TimestampMicrosecond(Some(t), utc())
    }

    #[test]
    fn preimage_of_aligned_boundaries_only() {
        let t = 1_634_668_140_000_000; // 2021-10-19T18:29:00Z
        assert_eq!(
            bucket_preimage("minute", &us(t)),
            Some((us(t), us(t + MINUTE)))
        );
        assert_eq!(
            bucket_preimage("MINUTE", &us(t)),
            Some((us(t), us(t + MINUTE)))
        );
        assert_eq!(bucket_preimage("minute", &us(t + 1)), None);
        assert_eq!(bucket_preimage("hour", &us(t)), None); // 18:29 is no hour start
        let day = 1_634_601_600_000_000; // 2021-10-19T00:00:00Z
        assert_eq!(
            bucket_preimage("day", &us(day)),
            Some((us(day), us(day + 86_400_000_000)))
        );
        // Before the epoch, boundaries are still multiples of the unit.
        assert_eq!(
            bucket_preimage("minute", &us(-MINUTE)),
            Some((us(-MINUTE), us(0)))
        );
        assert_eq!(bucket_preimage("minute", &us(-1)), None);
    }

    #[test]
    fn no_preimage_for_calendar_units_timezones_or_other_values() {
        let t = 1_609_459_200_000_000; // 2021-01-01T00:00:00Z, a week/month/year start too
        for unit in ["week", "month", "quarter", "year", "decade", ""] {
            assert_eq!(bucket_preimage(unit, &us(t)), None, "{unit}");
        }
        let paris = ScalarValue::TimestampMicrosecond(Some(t), Some("Europe/Paris".into()));
        assert_eq!(bucket_preimage("day", &paris), None);
        assert_eq!(
            bucket_preimage("day", &ScalarValue::TimestampMicrosecond(None, utc())),
            None
        );
        assert_eq!(bucket_preimage("day", &ScalarValue::Int64(Some(0))), None);
        assert_eq!(bucket_preimage("minute", &us(i64::MAX - 100)), None);
    }

    #[test]
    fn preimage_in_other_time_units() {
        let s = ScalarValue::TimestampSecond(Some(120), None);
        assert_eq!(
            bucket_preimage("minute", &s),
            Some((s.clone(), ScalarValue::TimestampSecond(Some(180), None)))
        );
        assert_eq!(bucket_preimage("millisecond", &s), None); // finer than a tick
        let ns = ScalarValue::TimestampNanosecond(Some(3_000_000_000), None);
        assert_eq!(
            bucket_preimage("second", &ns),
            Some((
                ns.clone(),
                ScalarValue::TimestampNanosecond(Some(4_000_000_000), None)
            ))
        );
    }

    #[test]
    fn datetime_text() {
        assert_eq!(
            datetime_us("10/19/2021, 6:29:02.123 PM").unwrap(),
            1_634_668_142_123_000
        );
        let e = datetime_us("2021-10-19").unwrap_err().to_string();
        assert!(e.contains("M/D/YYYY"), "{e}");
    }
}
