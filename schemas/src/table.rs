//! The two stored tables, `entries` and `flows`: their names, schemas, dictionary columns and
//! time columns. Defined here, below both ingest (which produces their batches) and the engine
//! (which stores them), so the two crates share one enum.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::{entries_schema, entry_col, flow_col, flows_schema};

/// One of the stored tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// The `entries` table: one row per error, ICMP message or noteworthy event.
    Entries,
    /// The `flows` table: one row per TCP/UDP/ICMP flow.
    Flows,
}

impl Table {
    /// Both tables, in a fixed order.
    pub const ALL: [Table; 2] = [Table::Entries, Table::Flows];

    /// Table name as stored (directory) and queried (SQL).
    pub fn name(self) -> &'static str {
        match self {
            Table::Entries => "entries",
            Table::Flows => "flows",
        }
    }

    /// The table's Arrow schema.
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Entries => entries_schema(),
            Table::Flows => flows_schema(),
        }
    }

    /// String columns with few distinct values (kinds, protocol names, error names, states):
    /// their Parquet files tell Arrow readers to decode them as dictionaries, so a filter such
    /// as `error_msg = 'SynSent'` compares the few dictionary values instead of every row.
    pub fn dictionary_columns(self) -> &'static [&'static str] {
        match self {
            Table::Entries => &[
                entry_col::KIND,
                entry_col::PROTOCOL_NAME,
                entry_col::PROTOCOL_ABBR,
                entry_col::TRANSPORT,
                entry_col::ERROR_TYPE,
                entry_col::ERROR_MSG,
                entry_col::CAPTURE_SOURCE,
                entry_col::REQUEST_METHOD,
                entry_col::RESPONSE_STATUS_TEXT,
                entry_col::DNS_TYPE,
            ],
            Table::Flows => &[
                flow_col::TRANSPORT,
                flow_col::CONN_STATE,
                flow_col::TCP_ERROR,
                flow_col::END_REASON,
                flow_col::CAPTURE_SOURCE,
            ],
        }
    }

    /// The schema written into each Parquet file's Arrow metadata: the table schema with the
    /// [`Table::dictionary_columns`] as `Dictionary(Int32, Utf8)`. The Parquet data is the same
    /// (dictionary-encoded strings); only how Arrow readers materialise it changes.
    pub fn file_schema(self) -> SchemaRef {
        let schema = self.schema();
        let dictionary = self.dictionary_columns();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                if dictionary.contains(&f.name().as_str()) && f.data_type() == &DataType::Utf8 {
                    let ty =
                        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                    f.as_ref().clone().with_data_type(ty)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
    }

    /// The timestamp column the table is partitioned and ordered by.
    pub fn ts_column(self) -> &'static str {
        match self {
            Table::Entries => entry_col::TIMESTAMP,
            Table::Flows => flow_col::START,
        }
    }

    /// The table named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Dense index (0 or 1) for per-table arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The byte that names the table in binary records (the engine's write-ahead log record
    /// headers); stable, since logs written by one version are replayed by the next.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The table of a record header byte, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        Table::ALL.into_iter().find(|t| t.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Table::ALL {
            assert_eq!(Table::from_name(t.name()), Some(t));
            assert!(t.schema().field_with_name(t.ts_column()).is_ok());
        }
        assert_eq!(Table::from_name("nope"), None);
    }
}
