//! The row filter of a live subscription: KFL compiled once into a DataFusion physical
//! expression over the `entries` columns, evaluated on each published batch.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{ColumnarValue, Expr};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use faultline_kfl::Warning;
use faultline_schemas::entries_schema;

use crate::EngineError;
use crate::session::session_config;

/// A row filter over `entries` compiled once to a physical expression, evaluated per batch.
#[derive(Debug, Clone)]
pub struct LiveFilter {
    expr: Arc<dyn PhysicalExpr>,
    /// The physical expression in full (Debug: literals with their types): filters with equal
    /// keys select the same rows, so a published batch is filtered once for all subscribers
    /// that share one.
    pub(super) key: String,
    schema: SchemaRef,
    pub(super) limit: Option<u64>,
    warnings: Vec<Warning>,
}

impl LiveFilter {
    /// Compiles KFL text (`now()` read from the system clock, once, now); a KFL error comes
    /// back as [`EngineError::Kfl`], whose message says the line and column.
    pub fn compile(kfl: &str) -> Result<Self, EngineError> {
        let compiled = faultline_kfl::compile(kfl)?;
        let mut filter = Self::from_expr(compiled.expr)?;
        filter.limit = compiled.limit;
        filter.warnings = compiled.warnings;
        Ok(filter)
    }

    /// Compiles a logical boolean expression over the `entries` columns (type coercion and
    /// simplification first, as DataFusion's planner does); no row limit.
    pub fn from_expr(expr: Expr) -> Result<Self, EngineError> {
        let schema = entries_schema();
        let df_schema = Arc::new(DFSchema::try_from(Arc::clone(&schema))?);
        let context = SimplifyContext::builder()
            .with_schema(Arc::clone(&df_schema))
            .build();
        let simplifier = ExprSimplifier::new(context);
        let expr = simplifier.simplify(simplifier.coerce(expr, &df_schema)?)?;
        let physical = SessionContext::new_with_config(session_config())
            .create_physical_expr(expr, &df_schema)?;
        let ty = physical.data_type(&schema)?;
        if ty != DataType::Boolean {
            return Err(ArrowError::InvalidArgumentError(format!(
                "a row filter must be boolean, this one is {ty}"
            ))
            .into());
        }
        Ok(Self {
            key: format!("{physical:?}"),
            expr: physical,
            schema,
            limit: None,
            warnings: Vec::new(),
        })
    }

    /// The KFL `limit(n)`, if the query had one.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Warnings of the KFL compiler; render them with [`Warning::render`] and the query text.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The rows of `batch` the filter selects (a null result does not select), or `None` when
    /// none does. Fails unless `batch` has the `entries` columns.
    pub fn apply(&self, batch: &RecordBatch) -> Result<Option<RecordBatch>, EngineError> {
        check_schema(&self.schema, batch)?;
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let mask = match self.expr.evaluate(batch)? {
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))) => {
                return Ok(Some(batch.clone()));
            }
            ColumnarValue::Scalar(_) => return Ok(None),
            ColumnarValue::Array(array) => array,
        };
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                ArrowError::InvalidArgumentError(format!(
                    "row filter evaluated to {}, not booleans",
                    mask.data_type()
                ))
            })?;
        // `true_count` counts valid true values only: nulls do not select, as in `filter`.
        Ok(match mask.true_count() {
            0 => None,
            n if n == batch.num_rows() => Some(batch.clone()),
            _ => Some(filter_record_batch(batch, mask)?),
        })
    }
}

/// Fails unless `batch` has the columns of `schema` (names and types, in order): a physical
/// expression addresses columns by position, so any other batch would be misread.
pub(super) fn check_schema(schema: &SchemaRef, batch: &RecordBatch) -> Result<(), EngineError> {
    let got = batch.schema_ref();
    if Arc::ptr_eq(got, schema) {
        return Ok(());
    }
    let same = got.fields().len() == schema.fields().len()
        && got
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if same {
        Ok(())
    } else {
        Err(ArrowError::SchemaError(
            "a published batch must have the columns of the entries table".into(),
        )
        .into())
    }
}
