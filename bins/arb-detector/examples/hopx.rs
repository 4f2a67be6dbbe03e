#![allow(unused_crate_dependencies, missing_docs)]
use futures::StreamExt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static T0: OnceLock<Instant> = OnceLock::new();
fn now() -> u64 {
    T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn rt(multi: bool) -> tokio::runtime::Runtime {
    if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }
}

fn run(label: &str, send_multi: bool, recv_multi: bool, relay: Option<bool>, n: usize, rate: u32) {
    now();
    let url = "nats://127.0.0.1:4222";
    let subj = format!("hopx.{}", std::process::id());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (ready2_tx, ready2_rx) = std::sync::mpsc::channel::<()>();
    let s2 = subj.clone();
    let recv = std::thread::spawn(move || {
        rt(recv_multi).block_on(async move {
            let c = async_nats::connect(url).await.unwrap();
            let mut sub = c.subscribe(format!("{s2}.out")).await.unwrap();
            c.flush().await.unwrap();
            ready_tx.send(()).unwrap();
            let mut lat = Vec::with_capacity(n);
            while lat.len() < n {
                let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(3), sub.next()).await
                else {
                    break;
                };
                let t = u64::from_le_bytes(m.payload[..8].try_into().unwrap());
                lat.push(now() - t);
            }
            lat
        })
    });
    ready_rx.recv().unwrap();
    let s3 = subj.clone();
    let relay_thread = relay.map(|multi| {
        std::thread::spawn(move || {
            rt(multi).block_on(async move {
                let c = async_nats::connect(url).await.unwrap();
                let mut sub = c.subscribe(format!("{s3}.in")).await.unwrap();
                c.flush().await.unwrap();
                ready2_tx.send(()).unwrap();
                let out = format!("{s3}.out");
                while let Ok(Some(m)) =
                    tokio::time::timeout(Duration::from_secs(3), sub.next()).await
                {
                    c.publish(out.clone(), m.payload).await.unwrap();
                }
            })
        })
    });
    let target = if relay.is_some() {
        ready2_rx.recv().unwrap();
        format!("{subj}.in")
    } else {
        format!("{subj}.out")
    };
    rt(send_multi).block_on(async move {
        let c = async_nats::connect(url).await.unwrap();
        let per = Duration::from_secs_f64(1.0 / rate as f64);
        let start = tokio::time::Instant::now();
        for i in 0..n {
            tokio::time::sleep_until(start + per * i as u32).await;
            let mut p = vec![0u8; 300];
            p[..8].copy_from_slice(&now().to_le_bytes());
            c.publish(target.clone(), p.into()).await.unwrap();
        }
        c.flush().await.unwrap();
    });
    let mut lat = recv.join().unwrap();
    if let Some(r) = relay_thread {
        r.join().unwrap();
    }
    lat.sort();
    let q = |f: f64| lat[((lat.len() as f64 * f) as usize).min(lat.len() - 1)] as f64 / 1000.0;
    println!(
        "{label:50} n={} p50={:.1} p90={:.1} p99={:.1}",
        lat.len(),
        q(0.5),
        q(0.9),
        q(0.99)
    );
}

fn main() {
    let rate: u32 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1000);
    let n = rate as usize * 3;
    run("hop: send ct, recv ct", false, false, None, n, rate);
    run("hop: send mt, recv mt", true, true, None, n, rate);
    run(
        "relay ct: send ct, relay ct, recv ct",
        false,
        false,
        Some(false),
        n,
        rate,
    );
    run(
        "relay mt: send ct, relay mt, recv ct",
        false,
        false,
        Some(true),
        n,
        rate,
    );
    run("hop: send ct, recv ct (again)", false, false, None, n, rate);
}
