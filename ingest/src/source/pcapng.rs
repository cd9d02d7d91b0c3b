//! pcapng packet blocks read straight from the buffer.
//!
//! pcap-parser parses an Enhanced Packet Block's options into a `Vec` (an allocation for every
//! packet that carries options such as `epb_flags`) and does not know the obsolete Packet Block
//! at all, so the reader handles these two block types itself; pcap-parser still frames every
//! other block (section headers, interface descriptions, statistics, ...).

use super::LinkType;
use super::time::TsClock;

/// Enhanced Packet Block type.
pub(crate) const EPB_TYPE: u32 = 6;
/// Obsolete Packet Block type (pcapng 1.0).
pub(crate) const PB_TYPE: u32 = 2;
/// Section Header Block type (byte-order independent).
pub(crate) const SHB_TYPE: u32 = 0x0A0D_0D0A;
/// Smallest EPB/PB: type, length, 20 bytes of fields, trailing length.
pub(crate) const MIN_PACKET_BLOCK: usize = 32;

/// An interface described by an Interface Description Block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interface {
    /// Link type of its frames.
    pub(crate) link: LinkType,
    /// Its snapshot length (0: unlimited).
    pub(crate) snaplen: u32,
    /// Its timestamp unit and offset.
    pub(crate) clock: TsClock,
}

/// The fields of an EPB or PB, with the packet's place inside the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PacketBlock {
    /// Interface index.
    pub(crate) if_id: u32,
    /// 64-bit timestamp in interface units.
    pub(crate) ts: u64,
    /// Captured length.
    pub(crate) caplen: u32,
    /// Original length.
    pub(crate) orig_len: u32,
    /// Offset of the packet bytes from the start of the block.
    pub(crate) data_offset: usize,
}

/// Reads a u32 at `at` in the section's byte order.
pub(crate) fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// Reads a u16 at `at` in the section's byte order.
fn read_u16(bytes: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

/// Parses a complete EPB or PB (`block` spans exactly its total length, trailer included).
///
/// Errors name what is wrong; the caller turns them into a corrupt-file error.
pub(crate) fn parse_packet_block(
    block: &[u8],
    block_type: u32,
    big_endian: bool,
) -> Result<PacketBlock, &'static str> {
    const BAD: &str = "packet block shorter than its fields";
    if block.len() < MIN_PACKET_BLOCK {
        return Err(BAD);
    }
    let trailer = read_u32(block, block.len() - 4, big_endian).ok_or(BAD)?;
    if usize::try_from(trailer).ok() != Some(block.len()) {
        return Err("block length and trailing block length differ");
    }
    let if_id = if block_type == PB_TYPE {
        u32::from(read_u16(block, 8, big_endian).ok_or(BAD)?)
    } else {
        read_u32(block, 8, big_endian).ok_or(BAD)?
    };
    let ts_high = read_u32(block, 12, big_endian).ok_or(BAD)?;
    let ts_low = read_u32(block, 16, big_endian).ok_or(BAD)?;
    let caplen = read_u32(block, 20, big_endian).ok_or(BAD)?;
    let orig_len = read_u32(block, 24, big_endian).ok_or(BAD)?;
    let data_offset = 28;
    let room = block.len() - MIN_PACKET_BLOCK;
    if usize::try_from(caplen).map_or(true, |c| c > room) {
        return Err("captured length runs past the end of its block");
    }
    Ok(PacketBlock {
        if_id,
        ts: (u64::from(ts_high) << 32) | u64::from(ts_low),
        caplen,
        orig_len,
        data_offset,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an EPB (or PB when `block_type == PB_TYPE`) in the given byte order.
    pub(crate) fn packet_block(
        block_type: u32,
        big_endian: bool,
        if_id: u32,
        ts: u64,
        data: &[u8],
        orig_len: u32,
        options: &[u8],
    ) -> Vec<u8> {
        let u32b = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let padded = data.len().div_ceil(4) * 4;
        let total = (MIN_PACKET_BLOCK + padded + options.len()) as u32;
        let mut b = Vec::new();
        b.extend(u32b(block_type));
        b.extend(u32b(total));
        if block_type == PB_TYPE {
            let id = if_id as u16;
            b.extend(if big_endian {
                id.to_be_bytes()
            } else {
                id.to_le_bytes()
            });
            b.extend([0, 0]);
        } else {
            b.extend(u32b(if_id));
        }
        b.extend(u32b((ts >> 32) as u32));
        b.extend(u32b(ts as u32));
        b.extend(u32b(data.len() as u32));
        b.extend(u32b(orig_len));
        b.extend(data);
        b.resize(28 + padded, 0);
        b.extend(options);
        b.extend(u32b(total));
        b
    }

    #[test]
    fn epb_both_byte_orders() {
        for be in [false, true] {
            let blk = packet_block(EPB_TYPE, be, 3, 0x1_0000_0002, b"abcde", 60, &[]);
            let p = parse_packet_block(&blk, EPB_TYPE, be).unwrap();
            assert_eq!(p.if_id, 3);
            assert_eq!(p.ts, 0x1_0000_0002);
            assert_eq!((p.caplen, p.orig_len), (5, 60));
            assert_eq!(&blk[p.data_offset..p.data_offset + 5], b"abcde");
        }
    }

    #[test]
    fn epb_with_options() {
        // epb_flags option (code 2, length 4) then opt_endofopt.
        let opts = [2, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        let blk = packet_block(EPB_TYPE, false, 0, 7, b"xyz", 3, &opts);
        let p = parse_packet_block(&blk, EPB_TYPE, false).unwrap();
        assert_eq!(&blk[p.data_offset..p.data_offset + 3], b"xyz");
    }

    #[test]
    fn obsolete_packet_block_has_16_bit_interface() {
        let blk = packet_block(PB_TYPE, true, 2, 9, b"pq", 2, &[]);
        let p = parse_packet_block(&blk, PB_TYPE, true).unwrap();
        assert_eq!((p.if_id, p.ts, p.caplen), (2, 9, 2));
    }

    #[test]
    fn damaged_blocks_are_rejected() {
        let blk = packet_block(EPB_TYPE, false, 0, 0, b"abcd", 4, &[]);
        assert!(parse_packet_block(&blk[..20], EPB_TYPE, false).is_err());
        let mut bad_trailer = blk.clone();
        let n = bad_trailer.len();
        bad_trailer[n - 4] ^= 0xff;
        assert!(parse_packet_block(&bad_trailer, EPB_TYPE, false).is_err());
        let mut long_cap = blk.clone();
        long_cap[20..24].copy_from_slice(&100u32.to_le_bytes());
        assert!(parse_packet_block(&long_cap, EPB_TYPE, false).is_err());
    }
}
