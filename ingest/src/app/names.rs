//! Name resolution from observed DNS answers: addresses from A and AAAA answers are named by
//! the question they answered, and every later entry gets `src_name` / `dst_name` from them.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::emit::{Emit, EntryBody, EntryView, FlowView};

/// Addresses learnt from DNS answers and their names.
#[derive(Debug, Default)]
pub struct NameTable {
    names: FxHashMap<IpAddr, String>,
}

/// Most addresses remembered; new addresses are not learnt beyond (known ones still update).
pub const MAX_NAMES: usize = 65_536;

impl NameTable {
    /// Remembers that `ip` is `name`; allocates only for a new or changed name.
    pub fn learn(&mut self, ip: IpAddr, name: &str) {
        if name.is_empty() {
            return;
        }
        let room = self.names.len() < MAX_NAMES;
        match self.names.get_mut(&ip) {
            Some(known) if known == name => {}
            Some(known) => {
                known.clear();
                known.push_str(name);
            }
            None if room => {
                self.names.insert(ip, name.to_owned());
            }
            None => {}
        }
    }

    /// The name of `ip`, if learnt.
    pub fn get(&self, ip: &IpAddr) -> Option<&str> {
        self.names.get(ip).map(String::as_str)
    }

    /// Addresses known.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nothing was learnt.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// An [`Emit`] that learns names from `dns` entries and names the endpoints of every entry.
pub struct Resolver<'a, E: Emit> {
    /// The names learnt so far.
    pub names: &'a mut NameTable,
    /// Where named entries go.
    pub out: &'a mut E,
}

impl<E: Emit> Emit for Resolver<'_, E> {
    fn entry(&mut self, e: &EntryView<'_>) {
        if let EntryBody::Dns(d) = e.body
            && let Some(name) = d.name
        {
            for ip in d.addresses {
                self.names.learn(*ip, name);
            }
        }
        if self.names.is_empty() {
            self.out.entry(e);
            return;
        }
        let mut named = *e;
        let h = &mut named.header;
        h.src_name = h.src_name.or_else(|| self.names.get(&h.src.0));
        h.dst_name = h.dst_name.or_else(|| self.names.get(&h.dst.0));
        self.out.entry(&named);
    }

    fn flow(&mut self, f: &FlowView<'_>) {
        self.out.flow(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::{DnsView, EntryHeader};

    #[derive(Default)]
    struct Names(Vec<(Option<String>, Option<String>)>);

    impl Emit for Names {
        fn entry(&mut self, e: &EntryView<'_>) {
            let h = &e.header;
            self.0
                .push((h.src_name.map(str::to_owned), h.dst_name.map(str::to_owned)));
        }
        fn flow(&mut self, _: &FlowView<'_>) {}
    }

    fn entry<'a>(src: &str, dst: &str, dns: DnsView<'a>) -> EntryView<'a> {
        let (src, dst) = ((src.parse().unwrap(), None), (dst.parse().unwrap(), None));
        EntryView::new(EntryHeader::new(0, src, dst, 17, ""), EntryBody::Dns(dns))
    }

    #[test]
    fn answers_name_later_entries() {
        let mut names = NameTable::default();
        let mut got = Names::default();
        let mut r = Resolver {
            names: &mut names,
            out: &mut got,
        };
        r.entry(&entry("10.0.0.1", "192.0.2.7", DnsView::default()));
        let addrs = ["192.0.2.7".parse().unwrap()];
        let dns = DnsView {
            name: Some("www.example"),
            addresses: &addrs,
            ..DnsView::default()
        };
        r.entry(&entry("10.0.0.1", "10.0.0.53", dns));
        r.entry(&entry("10.0.0.1", "192.0.2.7", DnsView::default()));
        assert_eq!(got.0[0], (None, None));
        assert_eq!(got.0[1], (None, None));
        assert_eq!(got.0[2], (None, Some("www.example".to_owned())));
        assert_eq!(names.len(), 1);
    }
}
