//! The one renderer of query results (Arrow record batches) to text: an aligned table, JSON
//! objects (one per row, as NDJSON lines or parsed values) and CSV. The CLI (`faultline query`,
//! `faultline sql`), the HTTP API (`json`, `ndjson`, `csv` and the error summary) and the
//! reports all render through it, so a column type is handled the same everywhere.
//!
//! - **JSON**: arrow's JSON encoding (timestamps as RFC 3339 text); a [`JsonStyle`] says
//!   whether nulls are written and whether 64-bit id columns (`id`, `*_id`) become strings,
//!   since JavaScript numbers cannot hold them exactly. Each consumer keeps the style its
//!   output always had: [`JsonStyle::API`], [`JsonStyle::CLI`], [`JsonStyle::REPORT`].
//! - **CSV**: only flat columns ([`is_flat`]): maps, structs, lists of every kind (`List`,
//!   `LargeList`, `FixedSizeList`, list views), unions and dictionaries of those are left out. The header comes with
//!   the first rows, or at the end when there are none ([`CsvEncoder`]).
//! - **Table**: arrow's pretty table, optionally restricted to some columns.
//!
//! HTTP-specific framing (the JSON document around the rows, Arrow IPC, streaming under limits)
//! stays in the server and calls these pieces.

use std::io::Write;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

/// Why results could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Arrow could not encode a batch (or a projection of it).
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    /// The JSON arrow wrote could not be read back as values.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Writing the rendered text failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How rows become JSON objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStyle {
    /// Write `"column": null` for nulls (otherwise the key is left out).
    pub explicit_nulls: bool,
    /// Write 64-bit id columns (`id`, `*_id`) as strings.
    pub ids_as_strings: bool,
}

impl JsonStyle {
    /// The HTTP API's: nulls written, ids as strings (for JavaScript clients).
    pub const API: JsonStyle = JsonStyle {
        explicit_nulls: true,
        ids_as_strings: true,
    };
    /// The CLI's `--format json`: nulls left out, ids as numbers.
    pub const CLI: JsonStyle = JsonStyle {
        explicit_nulls: false,
        ids_as_strings: false,
    };
    /// The reports': nulls written (every row has every column), ids as numbers.
    pub const REPORT: JsonStyle = JsonStyle {
        explicit_nulls: true,
        ids_as_strings: false,
    };
}

/// A text format of [`write_batches`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// An aligned table.
    Table,
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header line, flat columns only.
    Csv,
}

/// True for the 64-bit id columns [`JsonStyle::ids_as_strings`] turns into strings.
fn is_id_column(f: &Field) -> bool {
    matches!(f.data_type(), DataType::UInt64 | DataType::Int64)
        && (f.name() == "id" || f.name().ends_with("_id"))
}

/// `batch` with its id columns as strings.
fn ids_as_strings(batch: &RecordBatch) -> Result<RecordBatch, RenderError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| is_id_column(f)) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
    for (f, a) in schema.fields().iter().zip(batch.columns()) {
        if is_id_column(f) {
            fields.push(Arc::new(Field::new(
                f.name(),
                DataType::Utf8,
                f.is_nullable(),
            )));
            arrays.push(cast(a.as_ref(), &DataType::Utf8)?);
        } else {
            fields.push(f.clone());
            arrays.push(a.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// The rows of `batch` as JSON objects, one per line (each line ends in `\n`).
pub fn json_lines(batch: &RecordBatch, style: JsonStyle) -> Result<Vec<u8>, RenderError> {
    let converted;
    let batch = if style.ids_as_strings {
        converted = ids_as_strings(batch)?;
        &converted
    } else {
        batch
    };
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(style.explicit_nulls)
        .build::<_, arrow::json::writer::LineDelimited>(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner())
}

/// The rows of `batch` as JSON objects.
pub fn json_rows(
    batch: &RecordBatch,
    style: JsonStyle,
) -> Result<Vec<Map<String, Value>>, RenderError> {
    json_lines(batch, style)?
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(RenderError::from))
        .collect()
}

/// True for the column types CSV can hold: everything arrow does not call nested (maps,
/// structs, lists of every kind, unions, and dictionaries or run-end encodings of those), which
/// is exactly what arrow's CSV writer refuses.
pub fn is_flat(data_type: &DataType) -> bool {
    !data_type.is_nested()
}

/// Indices of the flat columns of `schema` ([`is_flat`]).
pub fn flat_columns(schema: &Schema) -> Vec<usize> {
    schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| is_flat(f.data_type()))
        .map(|(i, _)| i)
        .collect()
}

/// CSV of a stream of batches, piece by piece: the flat columns, a header line before the
/// first rows (or at [`CsvEncoder::finish`] when there were none).
#[derive(Debug)]
pub struct CsvEncoder {
    schema: SchemaRef,
    flat: Vec<usize>,
    header_pending: bool,
}

impl CsvEncoder {
    /// An encoder for batches of `schema`.
    pub fn new(schema: SchemaRef) -> CsvEncoder {
        let flat = flat_columns(&schema);
        CsvEncoder {
            schema,
            flat,
            header_pending: true,
        }
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, RenderError> {
        let projected = batch.project(&self.flat)?;
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(std::mem::replace(&mut self.header_pending, false))
            .build(Vec::new());
        w.write(&projected)?;
        Ok(w.into_inner())
    }

    /// The CSV of `batch`'s rows (nothing for an empty batch).
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, RenderError> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        self.encode(batch)
    }

    /// What ends the CSV: the header line if no rows came.
    pub fn finish(&mut self) -> Result<Vec<u8>, RenderError> {
        if !self.header_pending {
            return Ok(Vec::new());
        }
        self.encode(&RecordBatch::new_empty(self.schema.clone()))
    }
}

/// `batches` as an aligned table; only `columns` (those present, in that order) when given.
pub fn table(batches: &[RecordBatch], columns: Option<&[&str]>) -> Result<String, RenderError> {
    let projected: Vec<RecordBatch> = match columns {
        Some(names) => batches
            .iter()
            .map(|b| {
                let idx: Vec<usize> = names
                    .iter()
                    .filter_map(|n| b.schema().index_of(n).ok())
                    .collect();
                b.project(&idx)
            })
            .collect::<Result<_, _>>()?,
        None => batches.to_vec(),
    };
    Ok(arrow::util::pretty::pretty_format_batches(&projected)?.to_string())
}

/// Writes `batches` to `out` in `format`: the table (restricted to `table_columns` when given)
/// and a newline, NDJSON in `style`, or CSV. No batches at all write no CSV header (there is no
/// schema to take it from).
pub fn write_batches(
    out: &mut dyn Write,
    batches: &[RecordBatch],
    format: TextFormat,
    style: JsonStyle,
    table_columns: Option<&[&str]>,
) -> Result<(), RenderError> {
    match format {
        TextFormat::Table => writeln!(out, "{}", table(batches, table_columns)?)?,
        TextFormat::Ndjson => {
            for b in batches {
                out.write_all(&json_lines(b, style)?)?;
            }
        }
        TextFormat::Csv => {
            if let Some(first) = batches.first() {
                let mut csv = CsvEncoder::new(first.schema());
                for b in batches {
                    out.write_all(&csv.batch(b)?)?;
                }
                out.write_all(&csv.finish()?)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests;
