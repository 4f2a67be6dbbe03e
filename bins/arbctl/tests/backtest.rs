//! `arbctl backtest list | show | report` through the real binary, against a
//! fresh PostgreSQL database with hand-inserted `backtest_jobs` rows whose
//! results are built from arb-backtest's own types. The report's page is
//! opened in headless Chromium (`/usr/bin/chromium`, or `$CHROMIUM`): these
//! tests fail, not skip, without it.
#![allow(unused_crate_dependencies)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use arb_backtest::{EpisodeSpan, JobResult, Summary, TradePoint};
use arb_testkit::TestDb;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::types::Uuid;
use tokio::process::Command;

async fn arbctl(args: &[&str], db: &TestDb) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arbctl"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .expect("run arbctl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs arbctl, expecting `code`; returns its standard output.
async fn expect(code: i32, args: &[&str], db: &TestDb) -> String {
    let out = arbctl(args, db).await;
    assert_eq!(
        out.status.code(),
        Some(code),
        "arbctl {args:?}: {}",
        text(&out)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

const CROSS_AB: &str = "sim-a→sim-b BTC-USD";
const CROSS_BC: &str = "sim-b→sim-c ETH-USD";
const HASH: &str = "9f2c4e1ab37d5e60c1f0a8b2d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f809";

/// A run's result: seven trades on two labels (wins, losses, a failed one),
/// cumulative and drawdown worked out as the backtest does, four closed
/// episodes and one still open.
fn sample_result() -> JobResult {
    let trades = [
        // (seconds after 10:00, label, status, expected, realized, fees)
        (12, CROSS_AB, "completed", "0.1500", "0.1250", "0.0300"),
        (40, CROSS_BC, "completed", "0.0600", "0.0520", "0.0110"),
        (75, CROSS_AB, "unwound", "0.0900", "-0.0400", "0.0250"),
        (96, CROSS_BC, "partial", "0.0800", "-0.1100", "0.0150"),
        (130, CROSS_AB, "completed", "0.2000", "0.2100", "0.0400"),
        (181, CROSS_AB, "failed", "0.1000", "-0.0050", "0.0050"),
        (240, CROSS_BC, "completed", "0.0400", "0.0330", "0.0080"),
    ];
    let (mut cumulative, mut peak, mut max_dd) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let points: Vec<TradePoint> = trades
        .iter()
        .enumerate()
        .map(|(i, (secs, label, status, expected, realized, fees))| {
            cumulative += d(realized);
            peak = peak.max(cumulative);
            max_dd = max_dd.max(peak - cumulative);
            TradePoint {
                ts: format!("2026-12-01T10:{:02}:{:02}.123456789Z", secs / 60, secs % 60),
                trade_id: format!("0193a1b2-0000-7000-8000-00000000000{i}"),
                episode_id: Some(format!("ep-{}", i % 4)),
                strategy: "cross".into(),
                label: (*label).into(),
                status: (*status).into(),
                currency: "USD".into(),
                expected_profit: d(expected),
                realized_pnl: d(realized),
                fees: d(fees),
                cumulative,
                drawdown: peak - cumulative,
            }
        })
        .collect();
    let episodes = [Some(120), Some(850), Some(2300), Some(4100), None]
        .into_iter()
        .enumerate()
        .map(|(i, ms)| EpisodeSpan {
            episode_id: format!("ep-{i}"),
            key: format!("cross:{}", if i % 2 == 0 { CROSS_AB } else { CROSS_BC }),
            opened: format!("2026-12-01T10:0{i}:00Z"),
            closed: ms.map(|ms| format!("2026-12-01T10:0{i}:{:02}.{:03}Z", ms / 1000, ms % 1000)),
            duration_ms: ms,
            peak_edge_bps: d("14.25"),
        })
        .collect();
    let sum = |f: fn(&TradePoint) -> Decimal| points.iter().map(f).sum::<Decimal>();
    let summary = Summary {
        books: 5400,
        statuses: 12,
        opportunities: BTreeMap::from([
            ("close".into(), 4),
            ("open".into(), 5),
            ("update".into(), 40),
        ]),
        trades: BTreeMap::from([
            ("completed".into(), 4),
            ("failed".into(), 1),
            ("partial".into(), 1),
            ("unwound".into(), 1),
        ]),
        rejected: BTreeMap::from([("max_open_trades".into(), 2)]),
        currency: "USD".into(),
        realized_pnl: sum(|t| t.realized_pnl),
        fees: sum(|t| t.fees),
        max_drawdown: max_dd,
        win_rate: Some(d("0.5000")),
        expected_profit: sum(|t| t.expected_profit),
        captured_profit: sum(|t| t.realized_pnl),
        events: 87,
        hash: HASH.into(),
    };
    JobResult {
        summary,
        trades: points,
        episodes,
    }
}

/// A run that traded nothing and closed no episode.
fn empty_result() -> JobResult {
    let mut r = sample_result();
    r.trades.clear();
    r.episodes.retain(|e| e.duration_ms.is_none());
    let s = &mut r.summary;
    s.trades.clear();
    s.rejected.clear();
    (s.realized_pnl, s.fees, s.max_drawdown) = (d("0"), d("0"), d("0"));
    (s.expected_profit, s.captured_profit, s.win_rate) = (d("0"), d("0"), None);
    r
}

struct NewJob<'a> {
    status: &'a str,
    strategy: &'a str,
    /// Minutes before now.
    created_ago: i32,
    result: Option<&'a JobResult>,
    error: Option<&'a str>,
}

async fn insert(db: &TestDb, job: NewJob<'_>) -> Uuid {
    let result = job.result.map(|r| serde_json::to_value(r).unwrap());
    let params = json!({
        "fees": {"sim-a": "0.0026", "sim-b": "0.0010"},
        "min_net_edge_bps": "5",
        "max_notional": "2500",
        "seed": 42,
    });
    let started = matches!(job.status, "running" | "completed" | "failed");
    let finished = matches!(job.status, "completed" | "failed");
    sqlx::query_scalar(
        "INSERT INTO backtest_jobs (status, strategy, replay_from, replay_to, params, result,
             error, created_at, started_at, finished_at, updated_at)
         VALUES ($1, $2, '2026-12-01T10:00:00Z', '2026-12-01T10:05:00Z', $3, $4, $5,
             now() - make_interval(mins => $6),
             CASE WHEN $7 THEN now() - make_interval(mins => $6) + interval '2 seconds' END,
             CASE WHEN $8 THEN now() - make_interval(mins => $6) + interval '14.5 seconds' END,
             now() - make_interval(mins => $6) + CASE WHEN $8 THEN interval '14.5 seconds'
                 WHEN $7 THEN interval '2 seconds' ELSE interval '0' END)
         RETURNING id",
    )
    .bind(job.status)
    .bind(job.strategy)
    .bind(params)
    .bind(result)
    .bind(job.error)
    .bind(job.created_ago)
    .bind(started)
    .bind(finished)
    .fetch_one(&db.pool)
    .await
    .expect("insert backtest job")
}

/// Three jobs: completed (oldest), failed, running (newest).
async fn three_jobs(db: &TestDb) -> (Uuid, Uuid, Uuid) {
    let result = sample_result();
    let completed = NewJob {
        status: "completed",
        strategy: "cross",
        created_ago: 180,
        result: Some(&result),
        error: None,
    };
    let failed = NewJob {
        status: "failed",
        strategy: "triangular",
        created_ago: 120,
        result: None,
        error: Some("no books in 2026-12-01T10:00:00Z..2026-12-01T10:05:00Z"),
    };
    let running = NewJob {
        status: "running",
        strategy: "cross",
        created_ago: 60,
        result: None,
        error: None,
    };
    (
        insert(db, completed).await,
        insert(db, failed).await,
        insert(db, running).await,
    )
}

#[tokio::test]
async fn list_is_newest_first_filters_and_parses_as_json() {
    let db = TestDb::new("ctl_bt_list").await;
    assert_eq!(
        expect(0, &["backtest", "list"], &db).await,
        "no backtest jobs\n"
    );
    let (completed, failed, running) = three_jobs(&db).await;

    let table = expect(0, &["backtest", "list"], &db).await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert_eq!(
        lines[0],
        [
            "id",
            "status",
            "strategy",
            "from",
            "to",
            "created",
            "finished",
            "trades",
            "realized_pnl",
            "hash"
        ]
    );
    let ids: Vec<String> = lines[1..].iter().map(|l| l[0].to_owned()).collect();
    assert_eq!(
        ids,
        [running, failed, completed].map(|u| u.to_string()),
        "{table}"
    );
    assert_eq!(lines[1][1..3], ["running", "cross"]);
    assert_eq!(lines[1][6..], ["-", "-", "-", "-"], "{table}");
    assert_eq!(lines[2][1..3], ["failed", "triangular"]);
    let done = &lines[3];
    assert_eq!(
        done[1..5],
        [
            "completed",
            "cross",
            "2026-12-01T10:00:00Z",
            "2026-12-01T10:05:00Z"
        ]
    );
    // 7 trades, realized 0.1250 + 0.0520 - 0.0400 - 0.1100 + 0.2100 - 0.0050 + 0.0330.
    assert_eq!(done[7..], ["7", "0.2650", "USD", &HASH[..12]], "{table}");

    let only = expect(0, &["backtest", "list", "--status", "completed"], &db).await;
    assert_eq!(only.lines().count(), 2, "{only}");
    assert!(only.contains(&completed.to_string()), "{only}");
    let two = expect(0, &["backtest", "list", "--limit", "2"], &db).await;
    assert_eq!(two.lines().count(), 3, "{two}");
    assert!(!two.contains(&completed.to_string()), "{two}");
    assert_eq!(
        expect(0, &["backtest", "list", "--status", "cancelled"], &db).await,
        "no backtest jobs\n"
    );
    let bad = arbctl(&["backtest", "list", "--status", "done"], &db).await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));

    let all: Value =
        serde_json::from_str(&expect(0, &["backtest", "list", "--json"], &db).await).unwrap();
    let all = all.as_array().expect("an array");
    let ids: Vec<&str> = all.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [running, failed, completed].map(|u| u.to_string()),
        "newest first"
    );
    assert_eq!(all[0]["summary"], Value::Null);
    assert_eq!(all[0]["finished_at"], Value::Null);
    assert_eq!(
        all[1]["error"],
        json!("no books in 2026-12-01T10:00:00Z..2026-12-01T10:05:00Z")
    );
    assert_eq!(all[2]["status"], "completed");
    assert_eq!(all[2]["replay_from"], "2026-12-01T10:00:00Z");
    assert_eq!(all[2]["summary"]["realized_pnl"], "0.2650");
    assert_eq!(all[2]["summary"]["hash"], HASH);
    let summary: Summary = serde_json::from_value(all[2]["summary"].clone()).unwrap();
    assert_eq!(summary, sample_result().summary);
    let filtered: Value = serde_json::from_str(
        &expect(
            0,
            &["backtest", "list", "--json", "--status", "failed"],
            &db,
        )
        .await,
    )
    .unwrap();
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));
    assert_eq!(filtered[0]["id"], failed.to_string());
}

/// The value on `show`'s line for `name`.
fn field(shown: &str, name: &str) -> String {
    shown
        .lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix(name)
                .filter(|r| r.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{shown}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn show_prints_the_whole_row_and_a_missing_id_is_an_error() {
    let db = TestDb::new("ctl_bt_show").await;
    let (completed, failed, _) = three_jobs(&db).await;
    let id = completed.to_string();

    let shown = expect(0, &["backtest", "show", &id], &db).await;
    let shown_field = |name: &str| field(&shown, name);
    assert_eq!(shown_field("id"), id);
    assert_eq!(shown_field("status"), "completed");
    assert_eq!(shown_field("strategy"), "cross");
    assert_eq!(
        shown_field("range"),
        "2026-12-01T10:00:00Z .. 2026-12-01T10:05:00Z (5m)"
    );
    assert!(shown_field("started").ends_with("(queued 2s)"), "{shown}");
    assert!(shown_field("finished").ends_with("(ran 12.5s)"), "{shown}");
    // Every amount as the exact decimal stored, trailing zeros and all.
    assert_eq!(shown_field("realized_pnl"), "0.2650");
    assert_eq!(shown_field("fees"), "0.1340");
    assert_eq!(shown_field("max_drawdown"), "0.1500");
    assert_eq!(shown_field("win_rate"), "0.5000");
    assert_eq!(shown_field("expected_profit"), "0.7200");
    assert_eq!(shown_field("captured_profit"), "0.2650");
    assert_eq!(
        shown_field("trades"),
        "completed 4, failed 1, partial 1, unwound 1 (7 in all)"
    );
    assert_eq!(shown_field("rejected"), "max_open_trades 2 (2 in all)");
    assert_eq!(shown_field("hash"), HASH);
    assert_eq!(
        shown_field("recorded"),
        "7 trade points, 5 episodes (4 closed, 1 still open)"
    );
    assert!(shown.contains(r#""min_net_edge_bps": "5""#), "{shown}");
    assert!(!shown.contains("error"), "{shown}");

    let failed_text = expect(0, &["backtest", "show", &failed.to_string()], &db).await;
    assert_eq!(
        field(&failed_text, "error"),
        "no books in 2026-12-01T10:00:00Z..2026-12-01T10:05:00Z"
    );
    assert_eq!(field(&failed_text, "result"), "none yet");

    let j: Value =
        serde_json::from_str(&expect(0, &["backtest", "show", &id, "--json"], &db).await).unwrap();
    assert_eq!(j["id"], id);
    assert_eq!(j["status"], "completed");
    assert_eq!(j["replay_to"], "2026-12-01T10:05:00Z");
    assert_eq!(j["params"]["fees"]["sim-a"], "0.0026");
    assert_eq!(j["error"], Value::Null);
    assert!(j["started_at"].is_string() && j["finished_at"].is_string());
    let result: JobResult = serde_json::from_value(j["result"].clone()).unwrap();
    assert_eq!(result, sample_result());

    let nobody = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001);
    for args in [
        vec!["backtest", "show", &nobody.to_string()],
        vec!["backtest", "show", &nobody.to_string(), "--json"],
    ] {
        let out = arbctl(&args, &db).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(out.stdout.is_empty(), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("no backtest job {nobody}")),
            "{}",
            text(&out)
        );
    }
    let bad = arbctl(&["backtest", "show", "not-a-uuid"], &db).await;
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("not-a-uuid"), "{}", text(&bad));
}

/// A PNG decoded in full: its size and how many colours it has.
fn decode_png(path: &Path) -> (u32, u32, usize) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    assert_eq!(frame.bit_depth, png::BitDepth::Eight, "{}", path.display());
    let px = frame.color_type.samples();
    let colours: HashSet<&[u8]> = buf[..frame.buffer_size()].chunks(px).collect();
    (frame.width, frame.height, colours.len())
}

/// The report's files, checked: the page is self-contained, every chart is
/// a PNG of `size`. Returns the page.
fn check_report(stdout: &str, dir: &Path, size: (u32, u32)) -> String {
    let files: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
    let names: Vec<&str> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "report.html",
            "equity.png",
            "pnl_by_label.png",
            "captured_vs_expected.png",
            "episode_durations.png"
        ]
    );
    for f in &files {
        assert_eq!(f.parent(), Some(dir), "{}", f.display());
    }
    for png in &files[1..] {
        let (w, h, colours) = decode_png(png);
        assert_eq!((w, h), size, "{}", png.display());
        // Axes, text, data: not a blank canvas.
        assert!(colours > 10, "{} has {colours} colours", png.display());
    }
    let html = std::fs::read_to_string(&files[0]).unwrap();
    for url in ["http://", "https://", "//cdn", "url("] {
        assert!(!html.contains(url), "the page refers to {url}");
    }
    let sources: Vec<&str> = html.split("src=").skip(1).collect();
    assert_eq!(sources.len(), 4, "one src per chart");
    for s in &sources {
        assert!(s.starts_with("\"data:image/png;base64,"), "{}", &s[..40]);
    }
    assert!(!html.contains("<link"), "no external stylesheet");
    assert!(!html.contains("<script src"), "no external script");
    assert_eq!(html.matches("<img class=\"chart\"").count(), 4);
    html
}

fn chromium() -> PathBuf {
    let path = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    assert!(
        path.exists(),
        "this test opens the report in headless Chromium, and there is none at {} \
         (apt-get install chromium, or set CHROMIUM)",
        path.display()
    );
    path
}

/// Headless Chromium on `page` with `args`, a profile of its own; its
/// standard output.
async fn headless(page: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--mute-audio",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .arg(format!("file://{}", page.display()))
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium did not finish in 120 s")
        .expect("run chromium");
    assert!(out.status.success(), "chromium {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `<body ...>` tag of a dumped DOM.
fn body_tag(dom: &str) -> &str {
    let start = dom
        .find("<body")
        .unwrap_or_else(|| panic!("no <body> in {dom}"));
    let end = start + dom[start..].find('>').unwrap();
    &dom[start..=end]
}

/// Opens the page in Chromium: every chart loaded, no error; a screenshot
/// of the stated size that is not blank.
async fn check_in_browser(page: &Path) {
    let dom = headless(page, &["--dump-dom".into()]).await;
    let body = body_tag(&dom);
    assert!(body.contains(r#"data-charts-loaded="4""#), "{body}");
    assert!(!body.contains("data-error"), "{body}");
    assert!(
        dom.contains(r#"id="chart-equity""#),
        "the equity chart is on the page"
    );

    let shot = page.with_file_name("screenshot.png");
    headless(
        page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600".into(),
        ],
    )
    .await;
    let (w, h, colours) = decode_png(&shot);
    assert_eq!((w, h), (1280, 1600));
    assert!(colours > 50, "the screenshot has {colours} colours: blank?");
}

#[tokio::test]
async fn report_writes_charts_of_the_stated_size_into_a_page_that_loads() {
    let db = TestDb::new("ctl_bt_report").await;
    let (completed, _, _) = three_jobs(&db).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("made/by/report");
    let dir_arg = dir.to_str().unwrap();
    let id = completed.to_string();
    let stdout = expect(
        0,
        &[
            "backtest", "report", &id, "--out", dir_arg, "--width", "900", "--height", "500",
        ],
        &db,
    )
    .await;
    let html = check_report(&stdout, &dir, (900, 500));
    assert!(html.contains(&format!("<code>{id}</code>")));
    for exact in [
        "<tr><th>realized_pnl</th><td>0.2650</td></tr>",
        "<tr><th>max_drawdown</th><td>0.1500</td></tr>",
        "<tr><th>win_rate</th><td>0.5000</td></tr>",
        &format!("<tr><th>hash</th><td>{HASH}</td></tr>"),
        "2026-12-01T10:00:00Z .. 2026-12-01T10:05:00Z (5m)",
        "&quot;min_net_edge_bps&quot;: &quot;5&quot;",
        // Per label: 0.1250 - 0.0400 + 0.2100 - 0.0050; 0.0520 - 0.1100 + 0.0330.
        "<td>sim-a→sim-b BTC-USD</td><td class=\"num\">4</td><td class=\"num\">0.2900</td>",
        "<td>sim-b→sim-c ETH-USD</td><td class=\"num\">3</td><td class=\"num\">-0.0250</td>",
    ] {
        assert!(html.contains(exact), "{exact} not in the page");
    }
    check_in_browser(&dir.join("report.html")).await;

    // The check sees a chart that does not load: one image's data spoiled.
    let spoiled = html.replacen(
        "data:image/png;base64,iVBOR",
        "data:image/png;base64,AAAA",
        1,
    );
    assert_ne!(spoiled, html);
    let page = dir.join("spoiled.html");
    std::fs::write(&page, spoiled).unwrap();
    let dom = headless(&page, &["--dump-dom".into()]).await;
    let body = body_tag(&dom);
    assert!(!body.contains("data-charts-loaded"), "{body}");
    assert!(
        body.contains(r#"data-error="cannot load chart-equity"#),
        "{body}"
    );

    // Written again: the same files, replaced.
    let again = expect(0, &["backtest", "report", &id, "--out", dir_arg], &db).await;
    check_report(&again, &dir, (1200, 600));
}

#[tokio::test]
async fn report_of_a_job_without_trades_still_draws_every_chart() {
    let db = TestDb::new("ctl_bt_empty").await;
    let result = empty_result();
    let id = insert(
        &db,
        NewJob {
            status: "completed",
            strategy: "triangular",
            created_ago: 5,
            result: Some(&result),
            error: None,
        },
    )
    .await
    .to_string();
    let tmp = tempfile::tempdir().unwrap();
    let stdout = expect(
        0,
        &[
            "backtest",
            "report",
            &id,
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        &db,
    )
    .await;
    let html = check_report(&stdout, tmp.path(), (1200, 600));
    assert!(html.contains("<p>no trades</p>"));
    assert!(html.contains("<tr><th>win_rate</th><td>-</td></tr>"));
    check_in_browser(&tmp.path().join("report.html")).await;

    let shown = expect(0, &["backtest", "show", &id], &db).await;
    assert!(
        shown.contains("0 trade points, 1 episodes (0 closed, 1 still open)"),
        "{shown}"
    );
}

#[tokio::test]
async fn report_needs_a_job_with_a_result() {
    let db = TestDb::new("ctl_bt_noresult").await;
    let (_, failed, running) = three_jobs(&db).await;
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let dir = out_dir.to_str().unwrap();
    for (id, status) in [(running, "running"), (failed, "failed")] {
        let out = arbctl(&["backtest", "report", &id.to_string(), "--out", dir], &db).await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains(&format!(
                "backtest job {id} has no result to report (status {status})"
            )),
            "{}",
            text(&out)
        );
    }
    let nobody = Uuid::from_u128(7);
    let out = arbctl(
        &["backtest", "report", &nobody.to_string(), "--out", dir],
        &db,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("no backtest job {nobody}")));
    assert!(
        !out_dir.exists(),
        "nothing written for a job with no result"
    );

    // A result that is not a backtest result: a clear error, nothing drawn.
    sqlx::query("UPDATE backtest_jobs SET result = '{\"summary\": 1}' WHERE id = $1")
        .bind(running)
        .execute(&db.pool)
        .await
        .unwrap();
    let out = arbctl(
        &["backtest", "report", &running.to_string(), "--out", dir],
        &db,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("the result is not a backtest result"),
        "{}",
        text(&out)
    );
    let width = arbctl(
        &[
            "backtest",
            "report",
            &running.to_string(),
            "--out",
            dir,
            "--width",
            "10",
        ],
        &db,
    )
    .await;
    assert_eq!(width.status.code(), Some(2), "{}", text(&width));
}
