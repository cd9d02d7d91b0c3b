//! The headers of a classic pcap file as faultline writes them (little endian, microsecond
//! timestamps), for the recorder, its exports and the generator: one definition of the format.

/// Bytes of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// The file's magic number, as written (little endian, microsecond timestamps).
pub const MAGIC_USEC_LE: [u8; 4] = 0xa1b2_c3d4u32.to_le_bytes();

/// The file header for link type `link` (a `LINKTYPE_*` number) and snap length `snaplen`.
pub fn file_header(link: u32, snaplen: u32) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_USEC_LE);
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay 0.
    h[16..20].copy_from_slice(&snaplen.to_le_bytes());
    h[20..24].copy_from_slice(&link.to_le_bytes());
    h
}

/// A record header: capture time `ts_us` (its seconds clamped to what the format holds, 1970
/// to 2106), `caplen` bytes captured of `orig_len` (at least `caplen`).
pub fn record_header(ts_us: i64, caplen: u32, orig_len: u32) -> [u8; RECORD_HEADER_LEN] {
    let secs = ts_us.div_euclid(1_000_000).clamp(0, i64::from(u32::MAX)) as u32;
    let micros = ts_us.rem_euclid(1_000_000) as u32;
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&micros.to_le_bytes());
    h[8..12].copy_from_slice(&caplen.to_le_bytes());
    h[12..16].copy_from_slice(&orig_len.max(caplen).to_le_bytes());
    h
}
