//! ICMP classification against tshark 4.0.17: for every capture, the messages `classify` turns
//! into entries must be exactly the frames of the oracle's `icmp_errors.tsv` (filter
//! `icmp.type in {3,4,5,9,10,11,12} || icmpv6.type in {1,2,3,4,133,134,137}`) with the same
//! (version, type, code), and `quoted_tuple` must give the 5-tuple of `icmp_quoted_5tuple.tsv`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oracle_support;

use std::collections::BTreeMap;
use std::net::IpAddr;

use faultline_ingest::decode::Transport;
use faultline_ingest::emit::QuotedTuple;
use faultline_ingest::icmp::{IcmpClass, classify, classify_type, icmp_name, quoted_tuple};

/// (version, type, code) of one ICMP message.
type Kind = (u8, u8, u8);

/// What we see on one frame that becomes an entry.
struct Ours {
    kind: Kind,
    /// Outer source and destination.
    outer: (IpAddr, IpAddr),
    quoted: Option<QuotedTuple>,
}

fn our_entries(path: &std::path::Path) -> BTreeMap<u64, Ours> {
    let mut entries = BTreeMap::new();
    oracle_support::for_each_packet(path, |number, packet| {
        let Transport::Icmp(msg) = packet.transport else {
            return;
        };
        if classify(&msg).produces_entry() {
            let kind = (msg.version, msg.icmp_type, msg.code);
            let outer = (packet.ip.src, packet.ip.dst);
            entries.insert(
                number,
                Ours {
                    kind,
                    outer,
                    quoted: quoted_tuple(&msg),
                },
            );
        }
    });
    entries
}

fn field(row: &[String], i: usize) -> Option<&str> {
    row.get(i).map(String::as_str).filter(|v| !v.is_empty())
}

/// `icmp_errors.tsv`: frame -> (version, type, code) of the outer ICMP header. A row with
/// `icmp.type` is ICMPv4 (possibly an IPv4 error quoting ICMPv6 too); otherwise ICMPv6, also
/// when carried over IPv4 (6in4).
fn oracle_kinds(dirs: &oracle_support::Dirs, capture: &str) -> BTreeMap<u64, Kind> {
    let rows = dirs.oracle_rows(capture, "icmp_errors.tsv");
    let num = |row: &[String], i| field(row, i).map(|v| v.parse::<u8>().unwrap());
    rows.iter()
        .skip(1)
        .map(|row| {
            let kind = match (num(row, 5), num(row, 6)) {
                (Some(t), Some(c)) => (4, t, c),
                _ => (6, num(row, 7).unwrap(), num(row, 8).unwrap()),
            };
            (row[0].parse().unwrap(), kind)
        })
        .collect()
}

/// One `icmp_quoted_5tuple.tsv` row: the last occurrence of each field in the frame (the quoted
/// packet's, when tshark found one; otherwise the outer header's).
struct QuotedRow {
    v4: Option<(IpAddr, IpAddr)>,
    v6: Option<(IpAddr, IpAddr)>,
    proto: Option<u8>,
    ports: Option<(u16, u16)>,
}

fn oracle_quotes(dirs: &oracle_support::Dirs, capture: &str) -> BTreeMap<u64, QuotedRow> {
    let addr = |row: &[String], i| field(row, i).map(|v| v.parse::<IpAddr>().unwrap());
    let port = |row: &[String], i| field(row, i).map(|v| v.parse::<u16>().unwrap());
    let pair = |a: Option<IpAddr>, b: Option<IpAddr>| a.zip(b);
    dirs.oracle_rows(capture, "icmp_quoted_5tuple.tsv")
        .iter()
        .map(|row| {
            let quoted = QuotedRow {
                v4: pair(addr(row, 1), addr(row, 2)),
                v6: pair(addr(row, 3), addr(row, 4)),
                proto: field(row, 5).map(|v| v.parse().unwrap()),
                ports: port(row, 6)
                    .zip(port(row, 7))
                    .or(port(row, 8).zip(port(row, 9))),
            };
            (row[0].parse().unwrap(), quoted)
        })
        .collect()
}

/// Compares our quote with tshark's row; `Err` explains a difference.
fn compare_quote(ours: &Ours, theirs: Option<&QuotedRow>) -> Result<(), String> {
    let Some(theirs) = theirs else {
        return match ours.quoted {
            None => Ok(()),
            Some(q) => Err(format!("tshark has no quote, ours {q:?}")),
        };
    };
    let Some(q) = ours.quoted else {
        // tshark found no quote either when its "last occurrence" is the outer header itself.
        let outer_only = theirs.ports.is_none()
            && (theirs.v6 == Some(ours.outer)
                || (theirs.v6.is_none() && theirs.v4 == Some(ours.outer)));
        return if outer_only {
            Ok(())
        } else {
            Err("tshark has a quote, we have none".into())
        };
    };
    let (addrs, proto) = match q.src {
        // ip.proto is only the quote's when the quote is IPv4 (IPv6 has no ip.proto).
        IpAddr::V4(_) => (theirs.v4, theirs.proto),
        IpAddr::V6(_) => (theirs.v6, Some(q.proto)),
    };
    let ports = q.src_port.zip(q.dst_port);
    if addrs == Some((q.src, q.dst)) && proto == Some(q.proto) && ports == theirs.ports {
        Ok(())
    } else {
        Err(format!(
            "ours {q:?}, tshark v4 {:?} v6 {:?} proto {:?} ports {:?}",
            theirs.v4, theirs.v6, theirs.proto, theirs.ports
        ))
    }
}

#[test]
fn icmp_entries_and_quotes_match_tshark_on_every_capture() {
    let Some(dirs) = oracle_support::dirs() else {
        return;
    };
    let mut failures = Vec::new();
    let (mut entries, mut quotes) = (0, 0);
    for capture in dirs.captures() {
        let ours = our_entries(&dirs.pcaps.join(&capture));
        let kinds = oracle_kinds(&dirs, &capture);
        let histogram = |it: &mut dyn Iterator<Item = Kind>| {
            it.fold(BTreeMap::<Kind, usize>::new(), |mut h, k| {
                *h.entry(k).or_default() += 1;
                h
            })
        };
        let our_hist = histogram(&mut ours.values().map(|o| o.kind));
        let their_hist = histogram(&mut kinds.values().copied());
        if !our_hist.is_empty() || !their_hist.is_empty() {
            let names: Vec<String> = our_hist
                .iter()
                .map(|(&(v, t, c), n)| format!("v{v}:{}x{n}", icmp_name(v, t, c)))
                .collect();
            println!("{capture:<50} {}", names.join(" "));
        }
        if our_hist != their_hist {
            failures.push(format!(
                "{capture}: histogram ours {our_hist:?} tshark {their_hist:?}"
            ));
        }
        let frames_ours: Vec<(u64, Kind)> = ours.iter().map(|(f, o)| (*f, o.kind)).collect();
        let frames_theirs: Vec<(u64, Kind)> = kinds.into_iter().collect();
        if frames_ours != frames_theirs {
            failures.push(format!(
                "{capture}: frames ours {frames_ours:?} tshark {frames_theirs:?}"
            ));
        }
        let their_quotes = oracle_quotes(&dirs, &capture);
        for (frame, entry) in &ours {
            let is_error = classify_type(entry.kind.0, entry.kind.1) == IcmpClass::Error;
            let theirs = their_quotes.get(frame);
            if !is_error && theirs.is_some() {
                failures.push(format!(
                    "{capture} frame {frame}: tshark quotes a non-error"
                ));
            }
            if is_error {
                quotes += usize::from(entry.quoted.is_some());
                if let Err(why) = compare_quote(entry, theirs) {
                    failures.push(format!("{capture} frame {frame}: {why}"));
                }
            }
        }
        entries += ours.len();
    }
    println!("{entries} entries, {quotes} quoted tuples compared");
    assert!(entries > 0, "no ICMP entries at all");
    assert!(
        failures.is_empty(),
        "differences from tshark:\n{}",
        failures.join("\n")
    );
}
