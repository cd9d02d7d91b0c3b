//! Arbitrary bytes as a capture file: the reader must deliver frames, at most one error and
//! then stop, and every frame must decode or fail cleanly. Any panic is a bug.
#![no_main]

use std::io::Cursor;

use faultline_ingest::decode::Transport;
use faultline_ingest::source::MAX_CAPLEN;
use faultline_ingest::{CaptureReader, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Smallest buffer: refills and records across buffer boundaries get exercised.
    let Ok(mut reader) = CaptureReader::with_buffer_size(Cursor::new(data.to_vec()), "fuzz", 0)
    else {
        return;
    };
    let mut errors = 0u32;
    while let Some(item) = reader.next_frame() {
        match item {
            Ok(frame) => {
                assert_eq!(errors, 0, "frame after an error");
                assert!(frame.data.len() <= MAX_CAPLEN as usize);
                if let Ok(packet) = decode(&frame) {
                    if let Transport::Tcp(tcp) = packet.transport {
                        assert!(tcp.payload.len() as u64 <= u64::from(tcp.payload_len));
                    }
                }
            }
            Err(_) => errors += 1,
        }
    }
    assert!(errors <= 1, "{errors} errors");
    assert!(
        reader.next_frame().is_none(),
        "reader resumed after its end"
    );
});
