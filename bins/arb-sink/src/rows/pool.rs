//! COPY buffers kept from batch to batch: the pipeline takes one for each
//! table of a batch it fills and gives it back once the batch is written.

use bytes::{Bytes, BytesMut};

/// COPY buffers handed back after their batch is written, so the next batch
/// fills memory that is already mapped instead of growing a fresh buffer
/// (page faults and copies were a tenth of the sink's CPU in its profile).
#[derive(Debug)]
pub struct BufferPool {
    free: std::sync::Mutex<Vec<BytesMut>>,
    keep: usize,
}

impl BufferPool {
    /// Keeps at most `keep` idle buffers.
    pub fn new(keep: usize) -> Self {
        BufferPool {
            free: std::sync::Mutex::new(Vec::new()),
            keep,
        }
    }

    /// An idle buffer, or a new one.
    pub fn take(&self) -> BytesMut {
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(64 * 1024))
    }

    /// Takes back a finished COPY stream once nothing else holds it.
    pub fn give(&self, data: Bytes) {
        let Ok(mut buf) = data.try_into_mut() else {
            return;
        };
        buf.clear();
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if free.len() < self.keep {
            free.push(buf);
        }
    }

    /// Idle buffers now.
    pub fn idle(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{CopyRows, Table};
    use arb_contract::codec::Decoded;
    use arb_contract::sample;
    use arb_contract::time::from_nanos;

    #[test]
    fn a_written_batch_buffer_is_reused_for_the_next_batch() {
        let ts = from_nanos(1_763_900_000_000_000_000);
        let pool = BufferPool::new(1);
        let mut rows = CopyRows::with_buffer(Table::MarketSnapshots, pool.take());
        for n in 0..500 {
            rows.push(
                &Decoded::Book(sample::book(n, "kraken", "BTC/USD", 10, ts)),
                "s",
            )
            .expect("encodes");
        }
        let data = rows.finish();
        let (ptr, len) = (data.as_ptr(), data.len());
        assert!(len > 64 * 1024, "the buffer grew past its first size");

        // Still referenced elsewhere: not taken back.
        let held = data.clone();
        pool.give(data);
        assert_eq!(pool.idle(), 0);
        pool.give(held);
        assert_eq!(pool.idle(), 1);

        let again = pool.take();
        assert_eq!(again.as_ptr(), ptr, "the same memory comes back");
        assert!(again.is_empty() && again.capacity() >= len);
        // The pool keeps at most its limit.
        pool.give(Bytes::from(vec![1u8; 16]));
        pool.give(Bytes::from(vec![1u8; 16]));
        assert_eq!(pool.idle(), 1);
        // A new COPY stream in the reused buffer starts with the header only.
        let fresh = CopyRows::with_buffer(Table::MarketSnapshots, again).finish();
        assert_eq!(fresh, CopyRows::new(Table::MarketSnapshots).finish());
    }
}
