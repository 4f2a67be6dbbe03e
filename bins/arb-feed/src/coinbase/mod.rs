//! Coinbase level2 (placeholder until the adapter lands).
use crate::config::Config;
use crate::runner::{Action, Adapter};
use crate::error::FrameError;
use arb_shared::time::Timestamp;

pub struct CoinbaseAdapter { url: String }
impl CoinbaseAdapter { pub fn new(c: &Config) -> Self { CoinbaseAdapter { url: c.coinbase_url.clone() } } }
impl Adapter for CoinbaseAdapter {
    fn venue(&self) -> &str { "coinbase" }
    fn url(&self) -> String { self.url.clone() }
    fn on_connect(&mut self, _out: &mut Vec<Action>) {}
    fn on_text(&mut self, _t: &str, _r: Timestamp, _o: &mut Vec<Action>) -> Result<(), FrameError> { Ok(()) }
}
