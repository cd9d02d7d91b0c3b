//! SQL pieces several analytics share, each written once. They are macros expanding to string
//! literals so that the views, whose SQL is `&'static str`, can be assembled with `concat!`;
//! the constants give the same text to code that builds queries at run time.

/// KFL of what the error counts count: entries with an error type and ICMP messages
/// (Kubeshark's error dashboard).
macro_rules! errors_kfl {
    () => {
        "error or icmp"
    };
}

/// KFL of the error entries (those with an `error_type`): what destinations and services fail.
macro_rules! error_entries_kfl {
    () => {
        "error"
    };
}

/// An error's detail: its message (`SynSent`, `stale stream`), or an ICMP message's name.
macro_rules! error_detail {
    () => {
        "coalesce(error_msg, summary)"
    };
}

/// The measures of a failing destination over a group of error entries, in the columns of
/// `top_failing_destinations` after the destination itself.
macro_rules! destination_measures {
    () => {
        "max(dst_name) AS dst_name,
       count(*) AS failing_entries,
       count(*) FILTER (WHERE error_type = 'connection') AS connection_errors,
       count(*) FILTER (WHERE error_type = 'timeout') AS timeouts,
       count(*) FILTER (WHERE error_type = 'loss') AS loss_entries,
       count(DISTINCT flow_id) AS failing_flows,
       count(DISTINCT src_ip) AS distinct_sources,
       min(\"timestamp\") AS first_seen,
       max(\"timestamp\") AS last_seen"
    };
}

/// KFL of what the error counts count (see `errors_kfl!`).
pub const ERRORS_KFL: &str = errors_kfl!();
/// KFL of the error entries (see `error_entries_kfl!`).
pub const ERROR_ENTRIES_KFL: &str = error_entries_kfl!();
/// SQL of an error's detail (see `error_detail!`).
pub const ERROR_DETAIL: &str = error_detail!();

/// The failing destinations (transport, address, port) of the error entries in `range`, with
/// every measure of `top_failing_destinations`, unordered: the one query the summary's and the
/// report's top lists select from.
pub fn destinations_in(range: &super::TimeRange) -> String {
    format!(
        "SELECT transport, dst_ip, dst_port, {} \
         FROM entries WHERE kfl('{ERROR_ENTRIES_KFL}') AND {} \
         GROUP BY transport, dst_ip, dst_port",
        destination_measures!(),
        range.condition("\"timestamp\"")
    )
}
