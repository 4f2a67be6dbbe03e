//! PostgreSQL's binary COPY format for the rows of one table: the stream's
//! header and trailer, each row's column count, each value's length (or
//! NULL) and its encoding by column type (via `postgres-types`). A row is
//! written whole or not at all. What goes in each column is the business of
//! `message.rs`.

use bytes::{BufMut, Bytes, BytesMut};
use postgres_types::{IsNull, Json, ToSql, Type};
use rust_decimal::Decimal;

use super::Table;
use crate::book::PlainLevel;
use crate::numeric::Numeric;
use arb_contract::time::Timestamp;

/// A value that cannot be stored (it does not fit its column).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {column} of {table}: {message}")]
pub struct EncodeError {
    pub table: &'static str,
    pub column: &'static str,
    pub message: String,
}

pub(super) const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Rows of one table in PostgreSQL's binary COPY format.
pub struct CopyRows {
    table: Table,
    buf: BytesMut,
    rows: usize,
    col: usize,
    /// The fast book reader's levels, reused from row to row.
    pub(super) levels: Vec<PlainLevel>,
}

impl CopyRows {
    pub fn new(table: Table) -> Self {
        Self::with_buffer(table, BytesMut::with_capacity(64 * 1024))
    }

    /// Rows written into `buf` (emptied first), say one from a
    /// [`BufferPool`](super::BufferPool).
    pub fn with_buffer(table: Table, mut buf: BytesMut) -> Self {
        buf.clear();
        buf.put_slice(COPY_SIGNATURE);
        buf.put_i32(0); // flags
        buf.put_i32(0); // header extension length
        CopyRows {
            table,
            buf,
            rows: 0,
            col: 0,
            levels: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub(super) fn field<T: ToSql>(&mut self, ty: &Type, value: &T) -> Result<(), EncodeError> {
        let columns = self.table.columns();
        let column = columns.get(self.col).copied().unwrap_or("?");
        self.col += 1;
        let at = self.buf.len();
        self.buf.put_i32(0);
        let is_null = value.to_sql(ty, &mut self.buf).map_err(|e| EncodeError {
            table: self.table.name(),
            column,
            message: e.to_string(),
        })?;
        let len = match is_null {
            IsNull::Yes => {
                self.buf.truncate(at + 4);
                -1
            }
            IsNull::No => i32::try_from(self.buf.len() - at - 4).map_err(|_| EncodeError {
                table: self.table.name(),
                column,
                message: "value over 2 GiB".into(),
            })?,
        };
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// One row: the column count, then what `encode` writes, which must be
    /// every column of this table. On error nothing of the row is kept.
    pub(super) fn row(
        &mut self,
        schema: &str,
        encode: impl FnOnce(&mut Self) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let start = self.buf.len();
        let ncols = self.table.columns().len();
        self.buf.put_i16(ncols as i16);
        self.col = 0;
        match encode(self) {
            Ok(()) if self.col == ncols => {
                self.rows += 1;
                Ok(())
            }
            Ok(()) => {
                self.buf.truncate(start);
                Err(EncodeError {
                    table: self.table.name(),
                    column: "-",
                    message: format!("message of type {schema} does not belong here"),
                })
            }
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    pub(super) fn uuid(&mut self, v: &uuid::Uuid) -> Result<(), EncodeError> {
        self.field(&Type::UUID, v)
    }
    pub(super) fn opt_uuid(&mut self, v: &Option<uuid::Uuid>) -> Result<(), EncodeError> {
        self.field(&Type::UUID, v)
    }
    pub(super) fn ts(&mut self, v: &Timestamp) -> Result<(), EncodeError> {
        self.field(&Type::TIMESTAMPTZ, v)
    }
    pub(super) fn opt_ts(&mut self, v: &Option<Timestamp>) -> Result<(), EncodeError> {
        self.field(&Type::TIMESTAMPTZ, v)
    }
    pub(super) fn text(&mut self, v: &str) -> Result<(), EncodeError> {
        self.field(&Type::TEXT, &v)
    }
    pub(super) fn opt_text(&mut self, v: Option<&str>) -> Result<(), EncodeError> {
        self.field(&Type::TEXT, &v)
    }
    pub(super) fn num(&mut self, v: &Decimal) -> Result<(), EncodeError> {
        self.field(&Type::NUMERIC, &Numeric(v))
    }
    pub(super) fn opt_num(&mut self, v: &Option<Decimal>) -> Result<(), EncodeError> {
        self.field(&Type::NUMERIC, &v.as_ref().map(Numeric))
    }
    pub(super) fn int8(&mut self, v: Option<i64>) -> Result<(), EncodeError> {
        self.field(&Type::INT8, &v)
    }
    pub(super) fn json<T: serde::Serialize + std::fmt::Debug>(
        &mut self,
        v: &T,
    ) -> Result<(), EncodeError> {
        self.field(&Type::JSONB, &Json(v))
    }

    pub(super) fn int8_from_u64(
        &mut self,
        column: &'static str,
        v: Option<u64>,
    ) -> Result<(), EncodeError> {
        let v = v.map(i64::try_from).transpose().map_err(|_| EncodeError {
            table: self.table.name(),
            column,
            message: "above 2^63".into(),
        })?;
        self.int8(v)
    }

    /// The COPY stream: header, rows, trailer.
    pub fn finish(mut self) -> Bytes {
        self.buf.put_i16(-1);
        self.buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::codec::Decoded;
    use arb_contract::sample;
    use arb_contract::time::from_nanos;

    #[test]
    fn a_row_that_does_not_fit_leaves_nothing_behind() {
        let ts = from_nanos(0);
        let mut rows = CopyRows::new(Table::Orders);
        let before = rows.buf.len();
        let book = sample::mixed(0, ts);
        assert!(
            rows.push(&book, "md.book.x.BTC-USD").is_err(),
            "a book is not an order row"
        );
        assert_eq!(rows.buf.len(), before);
        let mut b = sample::book(1, "kraken", "BTC/USD", 1, ts);
        b.sequence = Some(u64::MAX);
        let mut rows = CopyRows::new(Table::MarketSnapshots);
        let err = rows.push(&Decoded::Book(b), "s").unwrap_err();
        assert_eq!(err.column, "sequence");
        assert!(rows.is_empty());
    }
}
