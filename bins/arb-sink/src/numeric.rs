//! PostgreSQL's binary `NUMERIC` and `NUMERIC[]` for [`Decimal`], written
//! straight into the COPY buffer.
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

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// The most base-10000 groups a `Decimal` needs: its mantissa is below 2^96,
/// times at most 10^3 to align the scale: under 10^32, so 8 groups.
const MAX_GROUPS: usize = 8;
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;

/// Writes `d` in PostgreSQL's binary numeric format: group count, weight,
/// sign, display scale, then the groups, most significant first.
pub fn put_numeric(out: &mut BytesMut, d: &Decimal) {
    if d.is_zero() {
        out.put_u16(0);
        out.put_i16(0);
        out.put_u16(NUMERIC_POS);
        out.put_u16(0);
        return;
    }
    let scale = d.scale() as u16;
    let mut m = d.mantissa().unsigned_abs();
    // Align so that the decimal point falls between two base-10000 groups.
    let pad = (4 - scale % 4) % 4;
    m *= 10u128.pow(u32::from(pad));

    // Least significant group first.
    let mut groups = [0i16; MAX_GROUPS];
    let mut n = 0;
    if let Ok(mut small) = u64::try_from(m) {
        while small != 0 {
            groups[n] = (small % 10_000) as i16;
            small /= 10_000;
            n += 1;
        }
    } else {
        while m != 0 {
            groups[n] = (m % 10_000) as i16;
            m /= 10_000;
            n += 1;
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
    out.reserve(8 + kept.len() * 2);
    out.put_u16(kept.len() as u16);
    out.put_i16(weight);
    out.put_u16(if d.is_sign_negative() {
        NUMERIC_NEG
    } else {
        NUMERIC_POS
    });
    out.put_u16(scale);
    for g in kept.iter().rev() {
        out.put_i16(*g);
    }
}

/// A `NUMERIC` parameter or COPY field.
#[derive(Debug, Clone, Copy)]
pub struct Numeric<'a>(pub &'a Decimal);

impl ToSql for Numeric<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        put_numeric(out, self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

/// A one-dimensional `NUMERIC[]` without nulls, lower bound 1: one decimal
/// of each item (say the price of each book level), with no copy in between.
#[derive(Debug, Clone, Copy)]
pub struct NumericArray<'a, T>(pub &'a [T], pub fn(&T) -> &Decimal);

impl<'a> NumericArray<'a, Decimal> {
    /// The array of the decimals themselves.
    pub fn of(values: &'a [Decimal]) -> Self {
        NumericArray(values, |d| d)
    }
}

impl<T: std::fmt::Debug + Sync> ToSql for NumericArray<'_, T> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let len = i32::try_from(self.0.len()).map_err(|_| "array too long")?;
        out.reserve(20 + self.0.len() * 20);
        out.put_i32(1); // dimensions
        out.put_i32(0); // no nulls
        out.put_u32(Type::NUMERIC.oid());
        out.put_i32(len);
        out.put_i32(1); // lower bound
        for d in self.0.iter().map(self.1) {
            let at = out.len();
            out.put_i32(0);
            put_numeric(out, d);
            let n = (out.len() - at - 4) as i32;
            out[at..at + 4].copy_from_slice(&n.to_be_bytes());
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

    #[test]
    fn hand_picked_values_encode_as_rust_decimal_does() {
        for s in [
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
        ] {
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
}
