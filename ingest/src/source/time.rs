//! Timestamp conversion to µs since the epoch for legacy pcap and pcapng.
//!
//! All arithmetic saturates: corrupt files may carry any value, and a wrong timestamp is
//! better than an overflow panic.

/// µs per second.
const US_PER_S: i128 = 1_000_000;

/// Legacy pcap record time: seconds plus a fraction in µs (or ns with the nanosecond magic).
pub(crate) fn legacy_us(sec: u32, frac: u32, nanos: bool) -> i64 {
    let frac_us = if nanos { frac / 1000 } else { frac };
    i64::from(sec) * 1_000_000 + i64::from(frac_us)
}

/// A pcapng interface's timestamp unit (`if_tsresol`) and offset (`if_tsoffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TsClock {
    /// Units per second are 10^exp (`pow2 == false`) or 2^exp (`pow2 == true`).
    exp: u8,
    pow2: bool,
    /// Seconds added to every timestamp.
    offset_s: i64,
}

impl TsClock {
    /// Builds the clock from the raw `if_tsresol` byte (most significant bit set: power of two)
    /// and `if_tsoffset` seconds. The pcapng default is `if_tsresol` 6, i.e. µs.
    pub(crate) fn new(tsresol: u8, offset_s: i64) -> Self {
        TsClock {
            exp: tsresol & 0x7f,
            pow2: tsresol & 0x80 != 0,
            offset_s,
        }
    }

    /// Converts a 64-bit pcapng timestamp to µs since the epoch.
    pub(crate) fn to_us(self, ts: u64) -> i64 {
        let ts = i128::from(ts);
        let us = if self.pow2 {
            // 2^-exp s units: ts * 10^6 / 2^exp; exp <= 127 and ts * 10^6 < 2^84.
            (ts * US_PER_S) >> self.exp
        } else if self.exp >= 6 {
            10i128
                .checked_pow(u32::from(self.exp - 6))
                .map_or(0, |div| ts / div)
        } else {
            ts * 10i128.pow(u32::from(6 - self.exp))
        };
        let total = us.saturating_add(i128::from(self.offset_s) * US_PER_S);
        i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
    }
}

impl Default for TsClock {
    fn default() -> Self {
        TsClock::new(6, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_micro_and_nano() {
        assert_eq!(legacy_us(1_000, 250_000, false), 1_000_250_000);
        assert_eq!(legacy_us(1_000, 250_000_999, true), 1_000_250_000);
    }

    #[test]
    fn pcapng_power_of_ten() {
        let ts = 1_700_000_000_123_456u64;
        assert_eq!(TsClock::default().to_us(ts), 1_700_000_000_123_456);
        assert_eq!(
            TsClock::new(9, 0).to_us(ts * 1000 + 789),
            1_700_000_000_123_456
        );
        assert_eq!(
            TsClock::new(3, 0).to_us(1_700_000_000_123),
            1_700_000_000_123_000
        );
        assert_eq!(
            TsClock::new(0, 0).to_us(1_700_000_000),
            1_700_000_000_000_000
        );
    }

    #[test]
    fn pcapng_power_of_two() {
        // 2^-20 s units: 1.5 s = 1.5 * 2^20 units.
        assert_eq!(TsClock::new(0x80 | 20, 0).to_us(3 << 19), 1_500_000);
        // 2^-30 units (some hardware capture cards).
        assert_eq!(TsClock::new(0x80 | 30, 0).to_us(1 << 30), 1_000_000);
    }

    #[test]
    fn pcapng_offset_is_seconds() {
        assert_eq!(TsClock::new(6, 1_000).to_us(5), 1_000_000_005);
        assert_eq!(TsClock::new(6, -1).to_us(0), -1_000_000);
    }

    #[test]
    fn absurd_values_saturate() {
        assert_eq!(TsClock::new(127, 0).to_us(u64::MAX), 0);
        assert_eq!(TsClock::new(0, i64::MAX).to_us(u64::MAX), i64::MAX);
        assert_eq!(TsClock::new(0xff, i64::MIN).to_us(0), i64::MIN);
        assert!(TsClock::new(0, 0).to_us(u64::MAX) > 0);
    }
}
