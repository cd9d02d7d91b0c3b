//! Arrow schemas of faultline's two tables, the kinds of entry it produces and the map from
//! KFL field paths (Kubeshark's names) to columns.
//!
//! `entries` holds one row per noteworthy event (a TCP connection error, a stale stream, a flow
//! that lost packets, an ICMP message, an HTTP or DNS transaction, packets a capture dropped);
//! `flows` holds one row per flow, shaped like Zeek's `conn.log`. See `schemas/README.md` for
//! every column.
//!
//! [`Table`] names the two tables and [`BatchSink`] is the trait through which their batches
//! are stored: ingest writes to it and the engine implements it.

mod entries;
mod fields;
mod flows;
mod kinds;
mod sink;
mod table;

pub use entries::{entries_schema, entry_col, string_map_type};
pub use fields::{FieldKind, FieldPath, FieldType, field, field_names, fields};
pub use flows::{flow_col, flows_schema};
pub use kinds::{EntryKind, ErrorType, TcpErrorState};
pub use sink::{BatchSink, SinkError};
pub use table::Table;

/// Arrow type of every timestamp column: microseconds since the Unix epoch, UTC.
pub fn timestamp_type() -> arrow::datatypes::DataType {
    arrow::datatypes::DataType::Timestamp(
        arrow::datatypes::TimeUnit::Microsecond,
        Some("UTC".into()),
    )
}

#[cfg(test)]
mod readme_tests {
    /// Every column of both tables is documented in `schemas/README.md`.
    #[test]
    fn readme_lists_every_column() {
        let readme = include_str!("../README.md");
        for schema in [crate::entries_schema(), crate::flows_schema()] {
            for f in schema.fields() {
                assert!(
                    readme.contains(&format!("`{}`", f.name())),
                    "README misses `{}`",
                    f.name()
                );
            }
        }
    }
}
