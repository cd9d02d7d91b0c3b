//! The engine's tables: `entries` and `flows` (the engine's own enum, since it does not depend
//! on ingest).

use arrow::datatypes::SchemaRef;
use faultline_schemas::{entries_schema, entry_col, flow_col, flows_schema};

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

    /// The byte that names the table in a write-ahead log record header.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The table of a log header byte, if it is one.
    pub(crate) fn from_code(code: u8) -> Option<Self> {
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
