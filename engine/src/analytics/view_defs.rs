//! The SQL of the analytic views (documented in [`crate::views`], which registers them).

/// One analytic view: its name, a one-line description and its SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// The name to query it by.
    pub name: &'static str,
    /// What a row is, one line.
    pub about: &'static str,
    /// The defining query, over `entries` and `flows` (may use `kfl('…')`).
    pub sql: &'static str,
}

/// Error entries (KFL `error or icmp`) per minute, kind, error type and detail.
const ERROR_COUNTS_PER_MINUTE: View = View {
    name: "error_counts_per_minute",
    about: "entries of `error or icmp` per minute, kind, error_type and detail",
    sql: concat!(
        "\
SELECT date_trunc('minute', \"timestamp\") AS minute,
       kind,
       error_type,
       ",
        error_detail!(),
        " AS detail,
       count(*) AS errors
FROM entries
WHERE kfl('",
        errors_kfl!(),
        "')
GROUP BY 1, 2, 3, 4"
    ),
};

/// Destinations of error entries per day, worst first.
const TOP_FAILING_DESTINATIONS: View = View {
    name: "top_failing_destinations",
    about: "error entries per day and destination (transport, dst ip and port), ranked in the day",
    sql: concat!(
        "\
SELECT date_trunc('day', \"timestamp\") AS day,
       transport,
       dst_ip,
       dst_port,
       ",
        destination_measures!(),
        ",
       row_number() OVER (PARTITION BY date_trunc('day', \"timestamp\")
                          ORDER BY count(*) DESC, transport, dst_ip, dst_port) AS rank
FROM entries
WHERE kfl('",
        error_entries_kfl!(),
        "')
GROUP BY 1, 2, 3, 4"
    ),
};

/// Flows and errors per day and service (responder address, port and transport).
const ERROR_RATE_PER_SERVICE: View = View {
    name: "error_rate_per_service",
    about: "flows, failed flows, errors and failed_flows / flows per day and TCP/UDP service",
    sql: concat!(
        "\
WITH events AS (
    SELECT date_trunc('day', \"start\") AS day, transport, resp_ip AS ip, resp_port AS port,
           1 AS flow, CAST(NULL AS BIGINT UNSIGNED) AS failed_flow, CAST(NULL AS VARCHAR) AS name
    FROM flows
    WHERE transport IN ('tcp', 'udp')
    UNION ALL
    SELECT date_trunc('day', \"timestamp\"), transport, dst_ip, dst_port, 0, flow_id, dst_name
    FROM entries
    WHERE kfl('",
        error_entries_kfl!(),
        "') AND transport IN ('tcp', 'udp')
)
SELECT day,
       transport,
       CASE WHEN strpos(ip, ':') > 0 THEN concat('[', ip, ']:', port)
            ELSE concat(ip, ':', port) END AS service,
       ip AS service_ip,
       port AS service_port,
       max(name) AS service_name,
       sum(flow) AS flows,
       count(DISTINCT failed_flow) AS failed_flows,
       count(failed_flow) AS errors,
       CAST(count(DISTINCT failed_flow) AS DOUBLE) / nullif(sum(flow), 0) AS error_rate
FROM events
GROUP BY day, transport, ip, port"
    ),
};

/// Every view [`crate::views::register_views`] registers.
pub const VIEWS: [View; 3] = [
    ERROR_COUNTS_PER_MINUTE,
    TOP_FAILING_DESTINATIONS,
    ERROR_RATE_PER_SERVICE,
];

#[cfg(test)]
mod tests {
    use super::super::fragments::{ERROR_DETAIL, ERROR_ENTRIES_KFL, ERRORS_KFL};
    use super::*;

    #[test]
    fn views_use_the_shared_fragments() {
        assert!(VIEWS[0].sql.contains(&format!("kfl('{ERRORS_KFL}')")));
        assert!(VIEWS[0].sql.contains(ERROR_DETAIL));
        for v in &VIEWS[1..] {
            assert!(
                v.sql.contains(&format!("kfl('{ERROR_ENTRIES_KFL}')")),
                "{}",
                v.name
            );
        }
        assert!(VIEWS[1].sql.contains("count(*) AS failing_entries"));
    }
}
