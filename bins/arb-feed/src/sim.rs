//! The `sim` venue: publishes the generator's books for every simulated venue
//! (`--sim-venues`), at `--rate` books per second (0: as fast as the bus
//! takes them), stopping after `--count` books or on shutdown.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use arb_contract::model::FeedState;
use tokio::time::Instant;

use crate::config::Config;
use crate::publish::Out;
use arb_venues::sim::SimGenerator;

pub async fn run(cfg: &Config, out: &mut Out, mut shutdown: Pin<&mut impl Future<Output = ()>>) {
    let mut g = SimGenerator::new(
        cfg.seed,
        &cfg.sim_venues,
        &cfg.symbols,
        cfg.top,
        cfg.sim_start,
        cfg.sim_step(),
    );
    let venues: Vec<String> = g.venues().map(str::to_owned).collect();
    for v in &venues {
        out.status(
            v,
            None,
            FeedState::Connected,
            None,
            Some(format!("simulated, seed {}", cfg.seed)),
        )
        .await;
        for s in &cfg.symbols {
            out.status(v, Some(s.clone()), FeedState::Subscribed, None, None)
                .await;
        }
    }
    let period = if cfg.rate > 0.0 {
        Some(Duration::from_secs_f64(1.0 / cfg.rate))
    } else {
        None
    };
    let started = Instant::now();
    let mut next_heartbeat = started + cfg.heartbeat_interval;
    let mut n: u64 = 0;
    loop {
        if cfg.count.is_some_and(|c| n >= c) {
            tracing::info!(books = n, "simulator reached --count");
            break;
        }
        let due = period.map(|p| started + p.mul_f64(n as f64));
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = sleep_until_opt(due) => {}
        }
        let now = Instant::now();
        if now >= next_heartbeat {
            next_heartbeat = now + cfg.heartbeat_interval;
            out.heartbeat().await;
        }
        if !cfg.min_interval.is_zero() {
            out.flush_due().await;
        }
        out.counters.frames += 1;
        out.book(g.next_book()).await;
        n += 1;
    }
    for v in &venues {
        out.status(
            v,
            None,
            FeedState::Disconnected,
            None,
            Some("simulator stopped".into()),
        )
        .await;
    }
}

async fn sleep_until_opt(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => tokio::task::yield_now().await,
    }
}
