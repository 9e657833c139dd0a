//! NTP time formats (RFC 5905 §6): the 64-bit timestamp, the 32-bit short
//! format, and the era-aware date used to turn a timestamp into a calendar time.
//!
//! A 64-bit timestamp counts seconds since 1900-01-01 00:00:00 UTC modulo 2^32,
//! so it wraps every 136 years; era 1 begins on 2036-02-07 06:28:16 UTC.
//! Differences between two timestamps taken within 68 years of each other are
//! exact whatever the era (two's-complement subtraction, RFC 5905 §6), which is
//! how the protocol core computes offsets and delays. Only display needs the
//! era, and it is chosen relative to a pivot date (normally the local clock).
//!
//! All conversions are total: no input panics.

use std::fmt;

/// Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const UNIX_OFFSET: u64 = 2_208_988_800;

/// One NTP era in seconds (2^32).
pub const ERA_SECONDS: i64 = 1 << 32;

/// A 64-bit NTP timestamp: 32 bits of seconds and 32 bits of fraction, era unknown.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The all-zero timestamp, which RFC 5905 uses for "unknown / not set".
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    pub const fn from_parts(seconds: u32, fraction: u32) -> Self {
        NtpTimestamp(((seconds as u64) << 32) | fraction as u64)
    }

    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self - earlier`, exact when the two are within 68 years of each other,
    /// whatever era each lies in (RFC 5905 §6).
    pub const fn since(self, earlier: NtpTimestamp) -> NtpDuration {
        NtpDuration(self.0.wrapping_sub(earlier.0) as i64)
    }

    /// The date this timestamp denotes in the era that puts it closest to `pivot`.
    pub fn to_date_near(self, pivot: NtpDate) -> NtpDate {
        // Candidate in the pivot's era, then the neighbours; pick the closest.
        let era = pivot.era();
        let base = |e: i64| NtpDate(((e as i128) << 64) + self.0 as i128);
        [era - 1, era, era + 1]
            .into_iter()
            .map(base)
            .min_by_key(|d| (d.0 - pivot.0).unsigned_abs())
            .unwrap_or(base(era))
    }

    /// Raw hexadecimal form as `ntpq`/`ntpdate` print it: `eeb0d79d.12fa6000`.
    pub fn hex(self) -> String {
        format!("{:08x}.{:08x}", self.seconds(), self.fraction())
    }
}

/// Adds a signed duration, wrapping at the era boundary as the wire format does.
impl std::ops::Add<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    fn add(self, d: NtpDuration) -> NtpTimestamp {
        NtpTimestamp(self.0.wrapping_add(d.0 as u64))
    }
}

impl std::ops::Add<NtpDuration> for NtpDate {
    type Output = NtpDate;
    fn add(self, d: NtpDuration) -> NtpDate {
        NtpDate(self.0 + d.0 as i128)
    }
}

impl fmt::Debug for NtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtpTimestamp({})", self.hex())
    }
}

/// A signed interval in units of 2^-32 s (about 233 ps), range ±68 years.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct NtpDuration(pub i64);

impl NtpDuration {
    pub const ZERO: NtpDuration = NtpDuration(0);

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 4_294_967_296.0
    }

    /// From seconds, saturating at the representable range (±68 years).
    pub fn from_secs_f64(s: f64) -> NtpDuration {
        let v = s * 4_294_967_296.0;
        if v.is_nan() {
            NtpDuration(0)
        } else {
            // `as` saturates for out-of-range floats.
            NtpDuration(v as i64)
        }
    }

    pub fn from_std(d: std::time::Duration) -> NtpDuration {
        let units =
            ((d.as_secs() as i128) << 32) + ((d.subsec_nanos() as i128) << 32) / 1_000_000_000;
        NtpDuration(units.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }
}

/// A point in time with its era: seconds since 1900-01-01 in units of 2^-32 s,
/// as a signed 128-bit count (RFC 5905 §6 "date format", collapsed into one
/// integer). Era 0 begins at 1900, era -1 before it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NtpDate(pub i128);

impl NtpDate {
    /// From Unix seconds and nanoseconds (nanoseconds are clamped to < 1 s).
    pub fn from_unix(secs: i64, nanos: u32) -> NtpDate {
        let nanos = nanos.min(999_999_999) as i128;
        let whole = (secs as i128 + UNIX_OFFSET as i128) << 32;
        NtpDate(whole + (nanos << 32) / 1_000_000_000)
    }

    pub fn from_system(t: std::time::SystemTime) -> NtpDate {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => NtpDate::from_unix(d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                // Before 1970: subtract.
                let units = ((d.as_secs() as i128) << 32)
                    + ((d.subsec_nanos() as i128) << 32) / 1_000_000_000;
                NtpDate(((UNIX_OFFSET as i128) << 32) - units)
            }
        }
    }

    /// The era number (RFC 5905 §6): floor(seconds / 2^32).
    pub fn era(self) -> i64 {
        (self.0 >> 64) as i64
    }

    /// The wire timestamp: the date modulo one era.
    pub fn timestamp(self) -> NtpTimestamp {
        NtpTimestamp(self.0 as u64)
    }

    /// Unix seconds (floor) and nanoseconds.
    pub fn to_unix(self) -> (i64, u32) {
        let unix_units = self.0 - ((UNIX_OFFSET as i128) << 32);
        let secs = unix_units >> 32; // arithmetic shift: floor
        let frac = (unix_units - (secs << 32)) as u64; // 0..2^32
        let nanos = ((frac as u128 * 1_000_000_000) >> 32) as u32;
        (secs.clamp(i64::MIN as i128, i64::MAX as i128) as i64, nanos)
    }

    /// `YYYY-MM-DD hh:mm:ss.ffffff UTC`, valid for any era.
    pub fn utc_string(self) -> String {
        let (secs, nanos) = self.to_unix();
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06} UTC",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            nanos / 1000
        )
    }
}

/// Howard Hinnant's days-from-civil inverse: days since 1970-01-01 → (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The 32-bit NTP short format (16.16 fixed point, unsigned), used for root
/// delay and root dispersion.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct NtpShort(pub u32);

impl NtpShort {
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 65_536.0
    }

    /// From seconds, saturating to 0..=65535.99998 s.
    pub fn from_secs_f64(s: f64) -> NtpShort {
        let v = (s * 65_536.0).round();
        if v.is_nan() || v <= 0.0 {
            NtpShort(0)
        } else if v >= u32::MAX as f64 {
            NtpShort(u32::MAX)
        } else {
            NtpShort(v as u32)
        }
    }
}

/// `2^exp` seconds, for the poll and precision fields (signed log2 seconds).
pub fn log2_secs(exp: i8) -> f64 {
    // A power of two in range is its exponent field alone: exact, with no
    // call into libm for every reply judged.
    f64::from_bits(((1023 + i64::from(exp)) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn log2_secs_is_exp2() {
        for e in i8::MIN..=i8::MAX {
            assert_eq!(log2_secs(e), f64::from(e).exp2(), "{e}");
        }
        assert_eq!(log2_secs(-20), 1.0 / 1_048_576.0);
    }

    #[test]
    fn unix_epoch_is_2208988800() {
        let d = NtpDate::from_unix(0, 0);
        assert_eq!(d.timestamp(), NtpTimestamp::from_parts(2_208_988_800, 0));
        assert_eq!(d.era(), 0);
        assert_eq!(d.utc_string(), "1970-01-01 00:00:00.000000 UTC");
    }

    #[test]
    fn era_one_begins_2036_02_07() {
        // RFC 5905 §6: era 1 begins at 2036-02-07 06:28:16 UTC (Unix 2085978496).
        let d = NtpDate::from_unix(2_085_978_496, 0);
        assert_eq!(d.era(), 1);
        assert_eq!(d.timestamp(), NtpTimestamp::ZERO);
        assert_eq!(d.utc_string(), "2036-02-07 06:28:16.000000 UTC");
        let before = NtpDate::from_unix(2_085_978_495, 0);
        assert_eq!(before.era(), 0);
        assert_eq!(before.timestamp().seconds(), u32::MAX);
    }

    #[test]
    fn differences_across_the_rollover_are_exact() {
        let t1 = NtpDate::from_unix(2_085_978_495, 500_000_000).timestamp(); // era 0, end
        let t2 = NtpDate::from_unix(2_085_978_497, 250_000_000).timestamp(); // era 1, start
        let d = t2.since(t1);
        assert!((d.as_secs_f64() - 1.75).abs() < 1e-9, "{}", d.as_secs_f64());
        assert!((t1.since(t2).as_secs_f64() + 1.75).abs() < 1e-9);
    }

    #[test]
    fn era_choice_uses_the_pivot() {
        let pivot = NtpDate::from_unix(2_085_978_500, 0); // just after rollover
        let ts = NtpTimestamp::from_parts(u32::MAX - 3, 0); // 4 s before rollover
        let d = ts.to_date_near(pivot);
        assert_eq!(d.era(), 0);
        assert_eq!(d.to_unix().0, 2_085_978_492);
        let ts2 = NtpTimestamp::from_parts(10, 0);
        let d2 = ts2.to_date_near(NtpDate::from_unix(2_085_978_400, 0)); // before rollover
        assert_eq!(d2.era(), 1);
        assert_eq!(d2.utc_string(), "2036-02-07 06:28:26.000000 UTC");
    }

    #[test]
    fn fraction_to_nanos() {
        let d = NtpTimestamp::from_parts(2_208_988_800, 0x8000_0000)
            .to_date_near(NtpDate::from_unix(0, 0));
        assert_eq!(d.to_unix(), (0, 500_000_000));
    }

    #[test]
    fn short_format() {
        assert_eq!(NtpShort(0x0001_8000).as_secs_f64(), 1.5);
        assert_eq!(NtpShort::from_secs_f64(1.5), NtpShort(0x0001_8000));
        assert_eq!(NtpShort::from_secs_f64(-1.0), NtpShort(0));
        assert_eq!(NtpShort::from_secs_f64(1e12), NtpShort(u32::MAX));
        assert_eq!(NtpShort::from_secs_f64(f64::NAN), NtpShort(0));
    }

    #[test]
    fn dates_before_1900_and_far_future_print() {
        let d = NtpDate::from_unix(-2_208_988_801, 0);
        assert_eq!(d.era(), -1);
        assert_eq!(d.utc_string(), "1899-12-31 23:59:59.000000 UTC");
        let far = NtpDate::from_unix(4_294_967_296 * 3, 0);
        assert!(far.utc_string().starts_with("2378-"));
    }

    proptest! {
        #[test]
        fn unix_roundtrip(secs in -5_000_000_000i64..20_000_000_000i64, nanos in 0u32..1_000_000_000) {
            let (s, n) = NtpDate::from_unix(secs, nanos).to_unix();
            prop_assert_eq!(s, secs);
            // 2^-32 s resolution: nanos within 1 ns after truncation.
            prop_assert!((n as i64 - nanos as i64).abs() <= 1);
        }

        #[test]
        fn since_is_exact_within_68_years(a in any::<u64>(), d in -(1i64 << 62)..(1i64 << 62)) {
            let t = NtpTimestamp(a);
            prop_assert_eq!((t + NtpDuration(d)).since(t), NtpDuration(d));
        }

        #[test]
        fn nearest_era_is_within_half_an_era(pivot in -(1i128 << 100)..(1i128 << 100), ts in any::<u64>()) {
            let p = NtpDate(pivot);
            let d = NtpTimestamp(ts).to_date_near(p);
            prop_assert_eq!(d.timestamp(), NtpTimestamp(ts));
            prop_assert!((d.0 - p.0).unsigned_abs() <= 1u128 << 63);
        }
    }
}
