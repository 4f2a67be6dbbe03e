//! The wall clock, read only at the I/O boundary: a feed's receive stamp, a
//! detector's received/published stamps, a heartbeat's time. Processing
//! logic (the contract, the venues' state machines, the detectors) never
//! calls this; it takes these stamps as values, so a replay can pass the
//! recorded ones.

use arb_contract::time::Timestamp;
use uuid::Uuid;

/// The current wall-clock time.
pub fn now() -> Timestamp {
    chrono::Utc::now()
}

/// A new time-ordered id from the clock, for records that describe the
/// process itself (heartbeats, its own audit records), not its input.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
