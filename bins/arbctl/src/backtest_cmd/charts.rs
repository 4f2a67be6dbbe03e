//! The report's four PNG charts, drawn with plotters' bitmap backend in the
//! DejaVu Sans font embedded in the binary (a machine without fonts draws
//! the same text). Every chart draws with no data too: its axes and a note.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use arb_backtest::{JobResult, TradePoint};

use super::series::{self, DurationHistogram, LabelPnl, padded_range};

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// One chart of the report: its element id in the HTML, its file, its title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChartSpec {
    pub(super) id: &'static str,
    pub(super) file: &'static str,
    pub(super) title: &'static str,
}

pub(super) const EQUITY: ChartSpec = ChartSpec {
    id: "chart-equity",
    file: "equity.png",
    title: "Equity curve and drawdown",
};
pub(super) const BY_LABEL: ChartSpec = ChartSpec {
    id: "chart-pnl-by-label",
    file: "pnl_by_label.png",
    title: "Realized P&L by venue pair or triangle",
};
pub(super) const CAPTURE: ChartSpec = ChartSpec {
    id: "chart-captured-vs-expected",
    file: "captured_vs_expected.png",
    title: "Captured against expected profit per trade",
};
pub(super) const DURATIONS: ChartSpec = ChartSpec {
    id: "chart-episode-durations",
    file: "episode_durations.png",
    title: "Opportunity episode durations",
};
pub(super) const ALL: [ChartSpec; 4] = [EQUITY, BY_LABEL, CAPTURE, DURATIONS];

/// Draws the four charts into `dir`, `size` pixels each; returns their paths
/// in [`ALL`]'s order. `range` is the job's replay range (milliseconds since
/// the epoch): the equity curve's time axis when there are no trades.
pub(super) fn draw_all(
    dir: &Path,
    size: (u32, u32),
    range: (i64, i64),
    result: &JobResult,
) -> anyhow::Result<Vec<PathBuf>> {
    register_font()?;
    let currency = result.summary.currency.as_str();
    let path = |c: ChartSpec| dir.join(c.file);
    draw(&path(EQUITY), size, |a| {
        equity(a, size, range, &result.trades, currency)
    })?;
    draw(&path(BY_LABEL), size, |a| {
        by_label(a, size, &series::by_label(&result.trades), currency)
    })?;
    draw(&path(CAPTURE), size, |a| {
        capture(a, size, &result.trades, currency)
    })?;
    let open = result
        .episodes
        .iter()
        .filter(|e| e.duration_ms.is_none())
        .count();
    draw(&path(DURATIONS), size, |a| {
        durations(a, size, series::durations(&result.episodes).as_ref(), open)
    })?;
    Ok(ALL.iter().map(|c| path(*c)).collect())
}

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded font cannot be read"))
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Tableau 10: distinct on white, yellow left out.
const PALETTE: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
];

/// The grid: bold lines at the labels, at most two faint ones between.
fn grid(light: bool) -> RGBAColor {
    if light {
        RGBColor(0, 0, 0).mix(0.04)
    } else {
        RGBColor(0, 0, 0).mix(0.18)
    }
}

fn draw(
    path: &Path,
    size: (u32, u32),
    chart: impl FnOnce(&Area<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let what = || format!("failed to draw {}", path.display());
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error).with_context(what)?;
    chart(&root).with_context(what)?;
    root.present().map_err(plot_error).with_context(what)
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

/// Sizes in pixels, scaled from those that suit 1200 × 600.
#[derive(Clone, Copy)]
struct Scale(f64);

impl Scale {
    fn of((w, h): (u32, u32)) -> Scale {
        Scale(
            (f64::from(w) / 1200.0)
                .min(f64::from(h) / 600.0)
                .clamp(0.4, 4.0),
        )
    }

    fn px(self, n: f64) -> u32 {
        (n * self.0).round().max(1.0) as u32
    }

    fn font(self, n: f64) -> TextStyle<'static> {
        (FAMILY, n * self.0).into_font().into()
    }

    fn caption(self) -> TextStyle<'static> {
        self.font(24.0)
    }

    fn label(self) -> TextStyle<'static> {
        self.font(15.0)
    }

    fn note(self) -> TextStyle<'static> {
        self.font(28.0)
            .color(&RGBColor(110, 110, 110))
            .pos(Pos::new(HPos::Center, VPos::Center))
    }
}

/// The house style of every chart's mesh: light grid lines, the label font.
fn mesh<'a, 'b, DB, X, Y, XT, YT>(
    chart: &'b mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    s: Scale,
) -> MeshStyle<'a, 'b, X, Y, DB>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = XT> + ValueFormatter<XT>,
    Y: Ranged<ValueType = YT> + ValueFormatter<YT>,
{
    let mut m = chart.configure_mesh();
    m.max_light_lines(2)
        .light_line_style(grid(true))
        .bold_line_style(grid(false))
        .label_style(s.label())
        .axis_desc_style(s.label());
    m
}

/// Tick labels with as many decimals as the span needs.
fn number(v: f64, span: f64) -> String {
    let places = (2.0 - span.abs().max(1e-9).log10().floor()).clamp(0.0, 8.0) as usize;
    let s = format!("{v:.places$}");
    // No "-0.00".
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_owned()
    } else {
        s
    }
}

fn equity(
    root: &Area<'_>,
    size: (u32, u32),
    range: (i64, i64),
    trades: &[TradePoint],
    currency: &str,
) -> anyhow::Result<()> {
    let s = Scale::of(size);
    let points = series::equity(trades)?;
    // The trades' event times; the job's range only without trades (the
    // range is when the history was recorded, which a simulated feed's
    // event times need not fall in).
    let (mut x0, mut x1) = match (points.first(), points.last()) {
        (Some(first), Some(last)) => {
            let pad = ((last.t - first.t) / 30).max(500);
            (first.t - pad, last.t + pad)
        }
        _ => range,
    };
    if x1 - x0 < 1_000 {
        (x0, x1) = (x0 - 1_000, x1 + 1_000);
    }
    let (ticks, step) = series::time_ticks(x0, x1, i64::from(size.0 / 150).max(3));
    let x_fmt = |v: &i64| series::time_label(*v, step, x1 - x0);

    // Realized P&L moves only at trades: a step line from zero at the start.
    let mut steps = vec![(x0, 0.0)];
    let mut dd_steps = vec![(x0, 0.0)];
    for p in &points {
        let (prev, prev_dd) = (steps[steps.len() - 1].1, dd_steps[dd_steps.len() - 1].1);
        steps.extend([(p.t, prev), (p.t, p.cumulative)]);
        dd_steps.extend([(p.t, prev_dd), (p.t, -p.drawdown)]);
    }
    steps.push((x1, steps[steps.len() - 1].1));
    dd_steps.push((x1, dd_steps[dd_steps.len() - 1].1));

    let root = root
        .titled(
            &format!("Equity: cumulative realized P&L ({currency}), drawdown below"),
            s.caption(),
        )
        .map_err(plot_error)?;
    let (_, h) = root.dim_in_pixel();
    let (top, bottom) = root.split_vertically((f64::from(h) * 0.68) as u32);
    let left = s.px(100.0);

    let (ylo, yhi) = padded_range(points.iter().map(|p| p.cumulative), 0.08);
    let mut chart = ChartBuilder::on(&top)
        .margin(s.px(12.0))
        .margin_right(s.px(36.0))
        .margin_bottom(s.px(10.0))
        .y_label_area_size(left)
        .x_label_area_size(0)
        .build_cartesian_2d((x0..x1).with_key_points(ticks.clone()), ylo..yhi)
        .map_err(plot_error)?;
    let y_fmt = |v: &f64| number(*v, yhi - ylo);
    mesh(&mut chart, s)
        .y_labels(8)
        .y_label_formatter(&y_fmt)
        .y_desc(format!("P&L ({currency})"))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(LineSeries::new(
            [(x0, 0.0), (x1, 0.0)],
            RGBColor(150, 150, 150).stroke_width(s.px(1.0)),
        ))
        .map_err(plot_error)?;
    chart
        .draw_series(LineSeries::new(steps, BLUE.stroke_width(s.px(2.5))))
        .map_err(plot_error)?;
    chart
        .draw_series(
            points
                .iter()
                .map(|p| Circle::new((p.t, p.cumulative), s.px(3.5), BLUE.filled())),
        )
        .map_err(plot_error)?;
    if points.is_empty() {
        chart
            .draw_series([Text::new("no trades", (x0 + (x1 - x0) / 2, 0.5), s.note())])
            .map_err(plot_error)?;
    }

    let max_dd = points.iter().map(|p| p.drawdown).fold(0.0, f64::max);
    let dlo = if max_dd > 0.0 { -max_dd * 1.15 } else { -1.0 };
    let mut dd = ChartBuilder::on(&bottom)
        .margin(s.px(12.0))
        .margin_right(s.px(36.0))
        .margin_top(s.px(10.0))
        .y_label_area_size(left)
        .x_label_area_size(s.px(55.0))
        .build_cartesian_2d((x0..x1).with_key_points(ticks), dlo..0.0)
        .map_err(plot_error)?;
    let d_fmt = |v: &f64| number(*v, -dlo);
    let day = series::time_label(x0, 86_400_000, 0);
    mesh(&mut dd, s)
        .y_labels(4)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&d_fmt)
        .x_desc(format!("event time (UTC, from {day})"))
        .y_desc("drawdown")
        .draw()
        .map_err(plot_error)?;
    let red = RGBColor(200, 40, 40);
    dd.draw_series(
        AreaSeries::new(dd_steps, 0.0, red.mix(0.3)).border_style(red.stroke_width(s.px(1.5))),
    )
    .map_err(plot_error)?;
    Ok(())
}

/// Horizontal bars, one per label, the first at the top, each with its
/// exact sum written beside it.
fn by_label(
    root: &Area<'_>,
    size: (u32, u32),
    rows: &[LabelPnl],
    currency: &str,
) -> anyhow::Result<()> {
    let s = Scale::of(size);
    let n = rows.len().max(1);
    let values: Vec<f64> = rows.iter().map(|r| series::f(r.realized_pnl)).collect();
    let (xlo, xhi) = padded_range(values.iter().copied(), 0.45);
    // Rows ten units high, the first at the top; a tick (its label) at each
    // row's middle.
    let row_y = |i: usize| 10 * (n - 1 - i) as i32;
    let names: Vec<String> = rows.iter().map(|r| shorten(&r.label, 36)).collect();
    let longest = names.iter().map(|l| l.chars().count()).max().unwrap_or(4);
    let (w, _) = size;
    let label_area =
        (longest as f64 * 15.0 * 0.62 * s.0 + 20.0 * s.0).clamp(60.0, f64::from(w) * 0.4);

    let centers: Vec<i32> = (0..n).map(|i| 10 * i as i32 + 5).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Realized P&L by venue pair or triangle ({currency})"),
            s.caption(),
        )
        .margin(s.px(16.0))
        .margin_right(s.px(30.0))
        .y_label_area_size(label_area as u32)
        .x_label_area_size(s.px(55.0))
        .build_cartesian_2d(xlo..xhi, (0..10 * n as i32).with_key_points(centers))
        .map_err(plot_error)?;
    let y_fmt = |v: &i32| {
        // Row i's middle is at 10 (n - 1 - i) + 5.
        let from_bottom = usize::try_from(*v / 10).unwrap_or(n);
        (n - 1)
            .checked_sub(from_bottom)
            .and_then(|i| names.get(i))
            .cloned()
            .unwrap_or_default()
    };
    let x_fmt = |v: &f64| number(*v, xhi - xlo);
    mesh(&mut chart, s)
        .disable_y_mesh()
        .x_labels(8)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(format!("realized P&L ({currency})"))
        .draw()
        .map_err(plot_error)?;
    let (green, red) = (RGBColor(40, 150, 70), RGBColor(200, 50, 50));
    chart
        .draw_series(rows.iter().zip(&values).enumerate().map(|(i, (_, v))| {
            let color = if *v >= 0.0 { green } else { red };
            Rectangle::new([(0.0, row_y(i) + 2), (*v, row_y(i) + 8)], color.filled())
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(rows.iter().zip(&values).enumerate().map(|(i, (r, v))| {
            let trades = if r.trades == 1 { "trade" } else { "trades" };
            let (anchor, pad) = if *v >= 0.0 {
                (HPos::Left, (xhi - xlo) * 0.01)
            } else {
                (HPos::Right, -(xhi - xlo) * 0.01)
            };
            Text::new(
                format!("{} ({} {trades})", r.realized_pnl, r.trades),
                (*v + pad, row_y(i) + 5),
                s.label().pos(Pos::new(anchor, VPos::Center)),
            )
        }))
        .map_err(plot_error)?;
    if !rows.is_empty() {
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0), (0.0, 10 * n as i32)],
                BLACK.stroke_width(s.px(1.0)),
            ))
            .map_err(plot_error)?;
    } else {
        chart
            .draw_series([Text::new("no trades", (0.0, 5), s.note())])
            .map_err(plot_error)?;
    }
    Ok(())
}

fn shorten(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// One point per trade, coloured by label, over the line where realized
/// equals expected.
fn capture(
    root: &Area<'_>,
    size: (u32, u32),
    trades: &[TradePoint],
    currency: &str,
) -> anyhow::Result<()> {
    let s = Scale::of(size);
    let pts: Vec<(&str, f64, f64)> = trades
        .iter()
        .map(|t| {
            (
                t.label.as_str(),
                series::f(t.expected_profit),
                series::f(t.realized_pnl),
            )
        })
        .collect();
    let (lo, hi) = padded_range(pts.iter().flat_map(|p| [p.1, p.2]), 0.08);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Captured vs expected profit per trade ({currency})"),
            s.caption(),
        )
        .margin(s.px(16.0))
        .margin_right(s.px(30.0))
        .y_label_area_size(s.px(100.0))
        .x_label_area_size(s.px(55.0))
        .build_cartesian_2d(lo..hi, lo..hi)
        .map_err(plot_error)?;
    let fmt = |v: &f64| number(*v, hi - lo);
    mesh(&mut chart, s)
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .x_desc(format!("expected profit ({currency})"))
        .y_desc(format!("realized P&L ({currency})"))
        .draw()
        .map_err(plot_error)?;
    let gray = RGBColor(120, 120, 120);
    chart
        .draw_series(DashedLineSeries::new(
            [(lo, lo), (hi, hi)],
            s.px(8.0),
            s.px(6.0),
            gray.stroke_width(s.px(1.5)),
        ))
        .map_err(plot_error)?
        .label("y = x: all of the expected profit captured")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], gray.stroke_width(2)));
    let mut labels: Vec<&str> = pts.iter().map(|p| p.0).collect();
    labels.sort_unstable();
    labels.dedup();
    let radius = s.px(5.0);
    for (i, label) in labels.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.0 == *label)
                    .map(|p| Circle::new((p.1, p.2), radius, color.filled())),
            )
            .map_err(plot_error)?
            .label(shorten(label, 48))
            .legend(move |(x, y)| Circle::new((x + 10, y), radius, color.filled()));
    }
    if pts.is_empty() {
        chart
            .draw_series([Text::new(
                "no trades",
                ((lo + hi) / 2.0, (lo + hi) / 2.0 + (hi - lo) * 0.15),
                s.note(),
            )])
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(s.label())
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

fn durations(
    root: &Area<'_>,
    size: (u32, u32),
    hist: Option<&DurationHistogram>,
    open: usize,
) -> anyhow::Result<()> {
    let s = Scale::of(size);
    let closed: u32 = hist.map_or(0, |h| h.counts.iter().sum());
    let (unit, width, counts) = hist.map_or(("ms", 1.0, &[][..]), |h| {
        (h.unit, h.width, h.counts.as_slice())
    });
    let xhi = width * counts.len().max(1) as f64;
    let top = counts.iter().copied().max().unwrap_or(0);
    let yhi = f64::from(top + (top / 10).max(1));
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Opportunity episode durations ({closed} closed, {open} still open)"),
            s.caption(),
        )
        .margin(s.px(16.0))
        .margin_right(s.px(30.0))
        .y_label_area_size(s.px(80.0))
        .x_label_area_size(s.px(55.0))
        .build_cartesian_2d(0.0..xhi, 0.0..yhi)
        .map_err(plot_error)?;
    let x_fmt = |v: &f64| number(*v, xhi);
    // Counts: whole numbers only.
    let y_fmt = |v: &f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    mesh(&mut chart, s)
        .disable_x_mesh()
        .x_labels(10)
        .y_labels((yhi as usize + 1).min(10))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(format!(
            "duration ({unit}), from open to close in event time"
        ))
        .y_desc("episodes")
        .draw()
        .map_err(plot_error)?;
    let fill = RGBColor(60, 110, 190);
    chart
        .draw_series(counts.iter().enumerate().map(|(i, c)| {
            let x = i as f64 * width;
            Rectangle::new([(x, 0.0), (x + width, f64::from(*c))], fill.filled())
        }))
        .map_err(plot_error)?;
    chart
        .draw_series(counts.iter().enumerate().map(|(i, c)| {
            let x = i as f64 * width;
            Rectangle::new(
                [(x, 0.0), (x + width, f64::from(*c))],
                WHITE.stroke_width(s.px(1.0)),
            )
        }))
        .map_err(plot_error)?;
    if counts.is_empty() {
        chart
            .draw_series([Text::new(
                "no closed episodes",
                (xhi / 2.0, yhi / 2.0),
                s.note(),
            )])
            .map_err(plot_error)?;
    }
    Ok(())
}
