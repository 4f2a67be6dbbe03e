//! The engine's ids: each derives from what identifies its record (the
//! episode, the leg, the order's state), never from a counter that a restart
//! would reset, so a redelivered opportunity gives the same ids.

use arb_contract::ids::derive;
use arb_contract::time::Timestamp;
use arb_contract::{OrderStatus, TransferStatus};
use uuid::Uuid;

use crate::ledger::Transfer;

/// The trade of an episode.
pub(super) fn trade(episode: Uuid, ts: Timestamp) -> Uuid {
    derive(ts, &[b"trade", episode.as_bytes()])
}

/// Leg `leg` of an episode's trade; unwinds count on from the legs.
pub(super) fn order(episode: Uuid, leg: usize, ts: Timestamp) -> Uuid {
    derive(
        ts,
        &[b"order", episode.as_bytes(), &(leg as u64).to_be_bytes()],
    )
}

/// A rejected leg of one opportunity (not of its episode: a later update of
/// the same episode may still trade).
pub(super) fn rejected_order(opportunity: Uuid, leg: usize, ts: Timestamp) -> Uuid {
    derive(
        ts,
        &[
            b"rejected",
            opportunity.as_bytes(),
            &(leg as u64).to_be_bytes(),
        ],
    )
}

/// One state of one order.
pub(super) fn order_event(order: Uuid, status: OrderStatus, ts: Timestamp) -> Uuid {
    derive(
        ts,
        &[b"order-event", order.as_bytes(), status.as_str().as_bytes()],
    )
}

pub(super) fn pnl(trade: Uuid, ts: Timestamp) -> Uuid {
    derive(ts, &[b"pnl", trade.as_bytes()])
}

/// A venue's snapshot after the `entries`-th journal entry.
pub(super) fn portfolio(venue: &str, ts: Timestamp, entries: usize) -> Uuid {
    derive(
        ts,
        &[
            b"portfolio",
            venue.as_bytes(),
            &(entries as u64).to_be_bytes(),
        ],
    )
}

/// A transfer: its terms and when it was sent make it.
pub(super) fn transfer(t: &Transfer) -> Uuid {
    derive(
        t.decided_at,
        &[
            b"transfer",
            t.asset.as_bytes(),
            t.from.as_bytes(),
            t.to.as_bytes(),
            t.amount.to_string().as_bytes(),
            &t.id.0.to_be_bytes(),
        ],
    )
}

pub(super) fn transfer_event(transfer: Uuid, status: TransferStatus, ts: Timestamp) -> Uuid {
    derive(
        ts,
        &[
            b"transfer-event",
            transfer.as_bytes(),
            status.as_str().as_bytes(),
        ],
    )
}

/// The P&L record of a transfer's cost.
pub(super) fn transfer_pnl(transfer: Uuid, ts: Timestamp) -> Uuid {
    derive(ts, &[b"transfer-pnl", transfer.as_bytes()])
}
