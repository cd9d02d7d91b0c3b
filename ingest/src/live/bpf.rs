//! Capture filters: tcpdump syntax compiled by libpcap into classic BPF, in the form the
//! kernel's `SO_ATTACH_FILTER` takes (for the pnet path; libpcap attaches its own).

use socket2::SockFilter;

use super::LiveError;

/// Compiles `filter` for Ethernet frames cut at `snaplen` bytes.
pub(crate) fn compile(filter: &str, snaplen: u32) -> Result<Vec<SockFilter>, LiveError> {
    let fail = |detail: String| LiveError::Filter {
        filter: filter.to_owned(),
        detail,
    };
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| fail(e.to_string()))?;
    let program = dead
        .compile(filter, true)
        .map_err(|e| fail(e.to_string()))?;
    program
        .get_instructions()
        .iter()
        .map(|insn| parse(&insn.to_string(), snaplen).ok_or_else(|| fail(insn.to_string())))
        .collect()
}

/// One instruction from the `code jt jf k` text the pcap crate prints (it exposes no fields).
/// Accepting returns (`ret #k`, k > 0) are capped at `snaplen`, so the kernel cuts packets.
fn parse(text: &str, snaplen: u32) -> Option<SockFilter> {
    let mut parts = text.split_ascii_whitespace();
    let code: u16 = parts.next()?.parse().ok()?;
    let jt: u8 = parts.next()?.parse().ok()?;
    let jf: u8 = parts.next()?.parse().ok()?;
    let mut k: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    // BPF_RET | BPF_K
    if code == 0x06 && k > 0 {
        k = k.min(snaplen);
    }
    Some(SockFilter::new(code, jt, jf, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_tcpdump_syntax() {
        let prog = compile("tcp port 80 and not host 10.0.0.1", 128).unwrap();
        assert!(prog.len() > 5, "{}", prog.len());
    }

    #[test]
    fn bad_filters_are_refused_with_the_compilers_words() {
        let err = compile("port eighty", 128).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`port eighty` does not compile"), "{text}");
    }

    #[test]
    fn parses_instruction_text() {
        assert!(parse("40 0 0 12", 100).is_some());
        assert!(parse("6 0 0 262144", 100).is_some());
        assert!(parse("6 0 0", 100).is_none());
        assert!(parse("6 0 0 1 2", 100).is_none());
        assert!(parse("x 0 0 1", 100).is_none());
    }
}
