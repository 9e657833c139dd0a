//! Fixed-point decimals, written as Rust's `{:.N}` writes them but without
//! its exact float-to-decimal machinery on the common path: a capture's
//! table prints a few of them for each of hundreds of thousands of client
//! hosts.

use std::fmt::{self, Write};

const POW10: [u64; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// Writes `v` with `prec` decimals exactly as `format!("{v:.prec$}")` does
/// (`{v:+.prec$}` when `plus`): the sign of a negative value even when it
/// rounds to zero, ties to even.
///
/// The value times 10^prec is rounded to an integer in floating point. Its
/// error is within a few units in the last place, so the result is the
/// correctly rounded one unless the exact value lies that close to a tie;
/// those (and values too large or not finite) are left to the standard
/// formatter.
pub fn write_fixed(f: &mut impl Write, v: f64, prec: usize, plus: bool) -> fmt::Result {
    let Some(&scale) = POW10.get(prec) else {
        return std_fixed(f, v, prec, plus);
    };
    let scaled = v.abs() * scale as f64;
    // Below 2^52 the fraction of `scaled` is exact.
    if !scaled.is_finite() || scaled >= 4.0e15 {
        return std_fixed(f, v, prec, plus);
    }
    // Truncation is the floor here (not negative), exact below 2^52, and
    // needs no call into libm.
    let whole = scaled as u64;
    let frac = scaled - whole as f64;
    if (frac - 0.5).abs() <= scaled * (4.0 * f64::EPSILON) + f64::MIN_POSITIVE {
        return std_fixed(f, v, prec, plus);
    }
    let n = whole + u64::from(frac > 0.5);
    let mut buf = [0u8; 32];
    let mut at = buf.len();
    let mut put = |d: u8| {
        at -= 1;
        buf[at] = d;
    };
    let mut rest = n;
    for _ in 0..prec {
        put(b'0' + (rest % 10) as u8);
        rest /= 10;
    }
    if prec > 0 {
        put(b'.');
    }
    loop {
        put(b'0' + (rest % 10) as u8);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if v.is_sign_negative() {
        put(b'-');
    } else if plus {
        put(b'+');
    }
    // Only ASCII digits, '.', and a sign were written.
    f.write_str(std::str::from_utf8(&buf[at..]).map_err(|_| fmt::Error)?)
}

fn std_fixed(f: &mut impl Write, v: f64, prec: usize, plus: bool) -> fmt::Result {
    if plus {
        write!(f, "{v:+.prec$}")
    } else {
        write!(f, "{v:.prec$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(v: f64, prec: usize, plus: bool) -> String {
        let mut s = String::new();
        write_fixed(&mut s, v, prec, plus).unwrap();
        s
    }

    fn check(v: f64) {
        for prec in 0..=9 {
            assert_eq!(ours(v, prec, false), format!("{v:.prec$}"), "{v:e} .{prec}");
            assert_eq!(
                ours(v, prec, true),
                format!("{v:+.prec$}"),
                "{v:e} +.{prec}"
            );
        }
    }

    #[test]
    fn same_text_as_the_standard_formatter() {
        // Ties exact in binary (to even), values a hair either side of a
        // decimal tie, signed zeros, negatives that round to zero, the
        // largest handled here and beyond, not finite.
        for v in [
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            0.25,
            0.125,
            0.0625,
            0.0005,
            1.0005,
            -0.0001,
            -0.49,
            0.95,
            9.995,
            99.9995,
            123.456,
            1e-12,
            -1e-12,
            3.999e15,
            4.0e15,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            check(v);
            check(-v);
        }
        for k in 0..5_000u64 {
            for prec in 1..=6u32 {
                let tie = (k as f64 + 0.5) / 10f64.powi(prec as i32);
                check(tie);
                check(f64::from_bits(tie.to_bits() + 1));
                check(f64::from_bits(tie.to_bits() - 1));
            }
        }
        // Offsets and delays as they come: random mantissas over the
        // magnitudes a sample has (1e-9 to 1e9 seconds or milliseconds).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mant = (x >> 11) as f64 / (1u64 << 53) as f64;
            let exp = (x % 19) as i32 - 9;
            let v = mant * 10f64.powi(exp);
            check(if x & 1 == 0 { v } else { -v });
        }
    }
}
