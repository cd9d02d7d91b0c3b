#![allow(missing_docs, clippy::unwrap_used)]
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let reps: usize = std::env::args().nth(2).map_or(20, |s| s.parse().unwrap());
    let buf: usize = std::env::args().nth(3).map_or(4 << 20, |s| s.parse().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    sizes();
    {
        let mut r = faultline_ingest::CaptureReader::open(std::path::Path::new(&path)).unwrap();
        let mut owned: Vec<(Vec<u8>, faultline_ingest::LinkType, u32)> = Vec::new();
        while let Some(f) = r.next_frame() { let f = f.unwrap(); owned.push((f.data.to_vec(), f.link, f.orig_len)); }
        let t = Instant::now();
        let mut n = 0u64;
        for _ in 0..reps {
            for (d, l, o) in &owned {
                let f = faultline_ingest::Frame { ts_us: 0, link: *l, data: d, orig_len: *o, interface: 0 };
                if let Ok(p) = std::hint::black_box(faultline_ingest::decode(&f)) { if p.ip.version == 4 { n += 1; } }
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!("decode only: {n} in {s:.3}s = {:.1} ns/pkt", s * 1e9 / (owned.len() * reps) as f64);
    }
    for mode in ["read", "read+decode"] {
        let t = Instant::now();
        let mut frames = 0u64;
        let mut tcp = 0u64;
        for _ in 0..reps {
            let mut r = faultline_ingest::CaptureReader::with_buffer_size(std::io::Cursor::new(bytes.clone()), "x", buf).unwrap();
            while let Some(f) = r.next_frame() {
                let f = f.unwrap();
                frames += 1;
                if mode == "read+decode" {
                    if let Ok(p) = faultline_ingest::decode(&f) {
                        if let faultline_ingest::decode::Transport::Tcp(s) = p.transport { tcp += u64::from(s.payload_len); }
                    }
                }
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!("{mode}: {frames} frames in {s:.3}s = {:.2} M frames/s ({tcp})", frames as f64 / s / 1e6);
    }
    // From file via open()
    let t = Instant::now();
    let mut frames = 0u64;
    for _ in 0..reps {
        let mut r = faultline_ingest::CaptureReader::open(std::path::Path::new(&path)).unwrap();
        while let Some(f) = r.next_frame() { let f = f.unwrap(); if faultline_ingest::decode(&f).is_ok() { frames += 1; } }
    }
    let s = t.elapsed().as_secs_f64();
    println!("open+decode: {frames} in {s:.3}s = {:.2} M/s", frames as f64 / s / 1e6);
}
#[allow(dead_code)]
fn sizes() {
    println!("LaxSlicedPacket {}", std::mem::size_of::<etherparse::LaxSlicedPacket>());
}
