//! Binance spot diff depth (placeholder until the adapter lands).
use crate::config::Config;
use crate::runner::{Action, Adapter};
use crate::error::FrameError;
use arb_shared::time::Timestamp;

pub struct BinanceAdapter { url: String }
impl BinanceAdapter { pub fn new(c: &Config) -> Self { BinanceAdapter { url: c.binance_stream_url.clone() } } }
impl Adapter for BinanceAdapter {
    fn venue(&self) -> &str { "binance" }
    fn url(&self) -> String { self.url.clone() }
    fn on_connect(&mut self, _out: &mut Vec<Action>) {}
    fn on_text(&mut self, _t: &str, _r: Timestamp, _o: &mut Vec<Action>) -> Result<(), FrameError> { Ok(()) }
}
