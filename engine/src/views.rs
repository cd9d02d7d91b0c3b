//! SQL conveniences over `entries` and `flows`: analytic views, `kfl('…')` conditions and
//! KFL's `datetime()` as a function.
//!
//! Views ([`VIEWS`], registered by [`register_views`]; their SQL lives with the other analytics
//! in [`crate::analytics::view_defs`]) are SQL over the two tables, planned
//! against whatever provider backs them, so a view adds no storage and a filter on its time
//! column reaches the scan of the underlying table (see "Time columns" below).
//!
//! | view | one row per | columns |
//! |---|---|---|
//! | `error_counts_per_minute` | minute, kind, error type and detail | `minute`, `kind`, `error_type`, `detail`, `errors` |
//! | `top_failing_destinations` | day and destination | `day`, `transport`, `dst_ip`, `dst_port`, `dst_name`, `failing_entries`, `connection_errors`, `timeouts`, `loss_entries`, `failing_flows`, `distinct_sources`, `first_seen`, `last_seen`, `rank` |
//! | `error_rate_per_service` | day and service | `day`, `transport`, `service`, `service_ip`, `service_port`, `service_name`, `flows`, `failed_flows`, `errors`, `error_rate` |
//!
//! Like any SQL view they return rows in no particular order (DataFusion drops an `ORDER BY`
//! inside a view): add `ORDER BY`. `rank` is a destination's place in its day (1 = most failing
//! entries, ties by transport, address, port), so `WHERE day = '2021-10-19' AND rank <= 10` is
//! that day's top ten.
//!
//! What counts as an error:
//! - `error_counts_per_minute` counts the entries of KFL's `error or icmp` (Kubeshark's error
//!   dashboard): every entry with an `error_type` (TCP connection errors, stale streams, packet
//!   loss, unanswered echo requests, …) and the ICMP messages (whose `error_type` is NULL);
//!   `detail` is `error_msg` (`SynSent`, `Reset`, `stale stream`, `packet loss`) or, for an
//!   ICMP message, its name (`DestinationUnreachable(Port)`).
//! - `top_failing_destinations` and `error_rate_per_service` count KFL's `error` (`error_type
//!   IS NOT NULL`), whose `dst` is the responder of the failing flow; `failing_entries` counts
//!   every error type, the `connection_errors`, `timeouts` and `loss_entries` columns three of
//!   them. ICMP messages are not among them: their `dst` is the receiver of the message, and the
//!   destination that failed is in `quoted_dst_ip`/`quoted_dst_port` (`SELECT … FROM entries
//!   WHERE kfl('icmp')`).
//! - `error_rate_per_service`: a service is a responder address, port and transport (`tcp`,
//!   `udp`) in `flows`; `flows` counts the flows that started that day, `errors` the error
//!   entries of that day against the service, `failed_flows` the distinct flows among those,
//!   and `error_rate = failed_flows / flows` (NULL when no flow started that day; it can
//!   exceed 1 only when a flow's error falls on a later day than its start).
//!
//! Time columns: every view is bucketed by a truncated timestamp (`minute`, `day`), and
//! `WHERE minute >= '…'` or `WHERE day = '2021-10-19'` becomes a range on `entries.timestamp`
//! / `flows.start` in the scan (`date_trunc` is registered with a preimage, see
//! [`register_functions`]), so a one-day query reads one day. Filters on aggregated columns
//! (`first_seen`, `errors`) apply after the aggregation and do not prune.
//!
//! Functions ([`register_functions`]): `kfl_datetime(text)` parses KFL's `datetime()` layout
//! (`'10/19/2021, 6:29:02.123 PM'`, UTC) to a timestamp; `date_trunc` is DataFusion's, made
//! prunable. Every other KFL helper has a built-in: `starts_with`, `ends_with`, `contains`,
//! `regexp_like`, `now()`, and `now() + INTERVAL '5 minutes'` for `minutes(5)` (KFL's
//! `months(n)`/`years(n)` are 30/365 days: `INTERVAL '30 days'`). `kfl('<KFL query>')` is
//! not a function but a rewrite before planning ([`expand_kfl_calls`]).

mod functions;
mod kfl_call;

use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use sqlparser::ast::Statement;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

pub use crate::analytics::{VIEWS, View};
pub use functions::{KFL_DATETIME, register_functions};
pub use kfl_call::{KFL_FUNCTION, expand_kfl_calls};

use crate::EngineError;

/// Registers the functions ([`register_functions`]) and every view of [`VIEWS`] in `ctx`.
/// Call it once, after `entries` and `flows` are registered: each view is planned against the
/// providers registered then. A table already registered under a view's name is an error.
pub async fn register_views(ctx: &SessionContext) -> Result<(), EngineError> {
    register_functions(ctx);
    for view in VIEWS {
        let plan = plan_sql(ctx, view.sql).await?;
        let table = ViewTable::new(plan, Some(view.sql.to_owned()));
        ctx.register_table(view.name, Arc::new(table))?;
    }
    Ok(())
}

/// Parses one statement of our own SQL (a view) and plans it with its `kfl()` calls expanded.
async fn plan_sql(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, EngineError> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| EngineError::Sql(format!("invalid SQL: {e}")))?;
    let mut statement = match statements.pop() {
        Some(s) if statements.is_empty() => s,
        _ => return Err(EngineError::Sql("expected one statement".to_owned())),
    };
    expand_kfl_calls(&mut statement)?;
    plan_statement(ctx, statement).await
}

/// Plans a parsed statement in `ctx` (tables, views and functions as registered there).
/// Planning from the statement that was validated means no second parse can read it
/// differently. Whether the plan may run (no DDL, DML, statements) is the caller's check.
pub async fn plan_statement(
    ctx: &SessionContext,
    statement: Statement,
) -> Result<LogicalPlan, EngineError> {
    ctx.state()
        .statement_to_plan(DfStatement::Statement(Box::new(statement)))
        .await
        .map_err(|e| EngineError::Sql(format!("invalid query: {e}")))
}

#[cfg(test)]
mod tests;
