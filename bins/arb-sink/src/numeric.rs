//! PostgreSQL's binary `NUMERIC` and `NUMERIC[]` for [`Decimal`] and for
//! [`Plain`] decimals read from text, written straight into the COPY buffer.
//!
//! `rust_decimal`'s own `ToSql` builds a `Vec` of base-10000 digits by long
//! division of the 96-bit mantissa in 32-bit words for every value; with 40
//! prices and sizes per 10-level book that was the largest single cost in the
//! sink's profile. Here the mantissa is divided as a `u64` when it fits (every
//! realistic price and size) and as a `u128` otherwise, into a stack array.
//! The bytes are the same as `rust_decimal`'s, which the tests check value by
//! value, including its rule for trailing zero groups.

use bytes::{BufMut, BytesMut};
use postgres_types::{IsNull, ToSql, Type, to_sql_checked};
use rust_decimal::Decimal;

pub use arb_contract::fast::Plain;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// The most base-10000 groups a `Decimal` needs: its mantissa is below 2^96,
/// times at most 10^3 to align the scale: under 10^32, so 8 groups.
const MAX_GROUPS: usize = 8;
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;

/// Writes the decimal `(-1)^neg * m / 10^scale` (`m < 2^96`, `scale <= 28`,
/// as in a `Decimal`) in PostgreSQL's binary numeric format: group count,
/// weight, sign, display scale, then the groups, most significant first.
fn put_parts(out: &mut BytesMut, neg: bool, m: u128, scale: u32) {
    let (buf, len) = encode_parts(neg, m, scale);
    out.extend_from_slice(&buf[4..len]);
}

/// The same with its length in front, as an array element or a COPY field.
fn put_parts_with_len(out: &mut BytesMut, neg: bool, m: u128, scale: u32) {
    let (buf, len) = encode_parts(neg, m, scale);
    out.extend_from_slice(&buf[..len]);
}

/// The most bytes of one value: its length, the header, the groups.
const ENCODED_MAX: usize = 4 + 8 + 2 * MAX_GROUPS;

/// One value, built on the stack and copied out at once (a `BytesMut` put per
/// part cost more than the arithmetic): a 4-byte length, then the value.
fn encode_parts(neg: bool, mut m: u128, scale: u32) -> ([u8; ENCODED_MAX], usize) {
    let mut buf = [0u8; ENCODED_MAX];
    if m == 0 {
        // Zero is all zeros: no groups, weight 0, positive, scale 0.
        buf[..4].copy_from_slice(&8i32.to_be_bytes());
        return (buf, 12);
    }
    let scale = scale as u16;
    // Align so that the decimal point falls between two base-10000 groups.
    let pad = (4 - scale % 4) % 4;

    // Least significant group first.
    let mut groups = [0u16; MAX_GROUPS];
    let mut n = 0;
    match u64::try_from(m)
        .ok()
        .and_then(|v| v.checked_mul(10u64.pow(u32::from(pad))))
    {
        Some(mut small) => {
            while small != 0 {
                groups[n] = (small % 10_000) as u16;
                small /= 10_000;
                n += 1;
            }
        }
        None => {
            m *= 10u128.pow(u32::from(pad));
            while m != 0 {
                groups[n] = (m % 10_000) as u16;
                m /= 10_000;
                n += 1;
            }
        }
    }
    let frac_groups = scale.div_ceil(4) as i16;
    let weight = n as i16 - frac_groups - 1;
    // Like rust_decimal: with an integer part, trailing zero groups after the
    // point are dropped (the display scale keeps the value's scale).
    let mut skip = 0;
    if weight >= 0 {
        let after_point = n - (weight as usize + 1);
        skip = groups[..after_point]
            .iter()
            .take_while(|g| **g == 0)
            .count();
    }
    let kept = &groups[skip..n];
    let len = 8 + 2 * kept.len();
    buf[..4].copy_from_slice(&(len as i32).to_be_bytes());
    buf[4..6].copy_from_slice(&(kept.len() as u16).to_be_bytes());
    buf[6..8].copy_from_slice(&weight.to_be_bytes());
    let sign = if neg { NUMERIC_NEG } else { NUMERIC_POS };
    buf[8..10].copy_from_slice(&sign.to_be_bytes());
    buf[10..12].copy_from_slice(&scale.to_be_bytes());
    for (i, g) in kept.iter().rev().enumerate() {
        buf[12 + 2 * i..14 + 2 * i].copy_from_slice(&g.to_be_bytes());
    }
    (buf, 4 + len)
}

/// A value written as `NUMERIC`.
pub trait NumericValue {
    /// Its sign, mantissa and scale, as a `Decimal` has them.
    fn parts(&self) -> (bool, u128, u32);

    fn put(&self, out: &mut BytesMut) {
        let (neg, m, scale) = self.parts();
        put_parts(out, neg, m, scale);
    }
}

impl NumericValue for Decimal {
    fn parts(&self) -> (bool, u128, u32) {
        (
            self.is_sign_negative(),
            self.mantissa().unsigned_abs(),
            self.scale(),
        )
    }
}

impl NumericValue for Plain {
    fn parts(&self) -> (bool, u128, u32) {
        Plain::parts(self)
    }
}

/// A `NUMERIC` parameter or COPY field.
#[derive(Debug, Clone, Copy)]
pub struct Numeric<'a, N = Decimal>(pub &'a N);

impl<N: NumericValue + std::fmt::Debug + Sync> ToSql for Numeric<'_, N> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.0.put(out);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

/// A one-dimensional `NUMERIC[]` without nulls, lower bound 1: one decimal
/// of each item (say the price of each book level), with no copy in between.
pub struct NumericArray<'a, T, N = Decimal>(pub &'a [T], pub fn(&T) -> &N);

impl<'a> NumericArray<'a, Decimal> {
    /// The array of the decimals themselves.
    pub fn of(values: &'a [Decimal]) -> Self {
        NumericArray(values, |d| d)
    }
}

impl<T, N> std::fmt::Debug for NumericArray<'_, T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NumericArray({} items)", self.0.len())
    }
}

impl<T: Sync, N: NumericValue> ToSql for NumericArray<'_, T, N> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let len = i32::try_from(self.0.len()).map_err(|_| "array too long")?;
        out.reserve(20 + self.0.len() * 20);
        out.put_i32(1); // dimensions
        out.put_i32(0); // no nulls
        out.put_u32(Type::NUMERIC.oid());
        out.put_i32(len);
        out.put_i32(1); // lower bound
        for d in self.0.iter().map(self.1) {
            let (neg, m, scale) = d.parts();
            put_parts_with_len(out, neg, m, scale);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC_ARRAY
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::str::FromStr;

    fn theirs<T: ToSql>(v: &T, ty: &Type) -> Vec<u8> {
        let mut b = BytesMut::new();
        v.to_sql(ty, &mut b).expect("rust_decimal encodes");
        b.to_vec()
    }

    fn ours<T: ToSql>(v: &T, ty: &Type) -> Vec<u8> {
        let mut b = BytesMut::new();
        v.to_sql(ty, &mut b).expect("encodes");
        b.to_vec()
    }

    fn same(d: Decimal) {
        assert_eq!(
            ours(&Numeric(&d), &Type::NUMERIC),
            theirs(&d, &Type::NUMERIC),
            "{d} (scale {})",
            d.scale()
        );
    }

    /// Values at the edges: zeros, group boundaries, the largest mantissas.
    const HAND_PICKED: &[&str] = &[
        "0",
        "-0",
        "0.0000",
        "1",
        "-1",
        "10000",
        "10000.0000",
        "0.0001",
        "-0.00010",
        "12345.6789",
        "100.5",
        "67012.35",
        "0.00000001",
        "1e-28",
        "79228162514264337593543950335",
        "-79228162514264337593543950335",
        "7.9228162514264337593543950335",
        "0.0000000000000000000000000001",
        "18446744073709551615",
        "18446744073709551616",
        "1844674407370955161.6",
        "99999999999999999999.99999999",
    ];

    #[test]
    fn hand_picked_values_encode_as_rust_decimal_does() {
        for s in HAND_PICKED {
            let d = Decimal::from_str(s)
                .or_else(|_| Decimal::from_scientific(s))
                .unwrap_or_else(|e| panic!("{s}: {e}"));
            same(d);
        }
    }

    #[test]
    fn random_values_of_every_scale_encode_as_rust_decimal_does() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200_000 {
            let bits: u128 = match rng.random_range(0..4) {
                0 => rng.random_range(0..1_000_000),
                1 => u128::from(rng.random::<u64>()),
                2 => rng.random::<u128>() >> 32,
                _ => rng.random_range(0..10u128.pow(12)) * 10u128.pow(rng.random_range(0..8)),
            };
            let scale = rng.random_range(0..=28);
            let neg = rng.random::<bool>();
            let lo = bits as u32;
            let mid = (bits >> 32) as u32;
            let hi = (bits >> 64) as u32;
            same(Decimal::from_parts(lo, mid, hi, neg, scale));
        }
    }

    #[test]
    fn arrays_encode_as_rust_decimal_slices_do() {
        let values: Vec<Decimal> = ["67012.35", "0.5", "-3", "0", "1234567.00000001"]
            .iter()
            .map(|s| Decimal::from_str(s).expect("decimal"))
            .collect();
        for slice in [&values[..], &values[..1], &[][..]] {
            assert_eq!(
                ours(&NumericArray::of(slice), &Type::NUMERIC_ARRAY),
                theirs(&slice, &Type::NUMERIC_ARRAY)
            );
        }
    }

    fn plain_bytes(s: &str) -> Option<Vec<u8>> {
        let p = Plain::parse(s)?;
        let mut b = BytesMut::new();
        p.put(&mut b);
        Some(b.to_vec())
    }

    fn decimal_bytes(s: &str) -> Option<Vec<u8>> {
        let d = Decimal::from_str(s).ok()?;
        Some(theirs(&d, &Type::NUMERIC))
    }

    #[test]
    fn plain_text_encodes_as_its_decimal_does() {
        let extra = [
            "00012.50",
            "9999999999999999999999999999",
            "-0.000000000000000000000000001",
        ];
        let mut plain = 0;
        for s in HAND_PICKED.iter().chain(&extra) {
            if Plain::parse(s).is_some() {
                plain += 1;
                assert_eq!(plain_bytes(s), decimal_bytes(s), "{s}");
            }
        }
        assert_eq!(
            plain,
            HAND_PICKED.len() + extra.len() - 5,
            "all but the exponent and 29-digit forms"
        );
    }

    #[test]
    fn random_plain_text_encodes_as_its_decimal_does() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..200_000 {
            let int_len = rng.random_range(1..=20);
            let frac_len = rng.random_range(0..=(28 - int_len).min(12));
            let mut s = String::new();
            if rng.random::<bool>() {
                s.push('-');
            }
            for _ in 0..int_len {
                s.push(char::from(b'0' + rng.random_range(0..10u8)));
            }
            if frac_len > 0 {
                s.push('.');
                for _ in 0..frac_len {
                    s.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
            }
            assert_eq!(plain_bytes(&s), decimal_bytes(&s), "{s}");
        }
    }
}
