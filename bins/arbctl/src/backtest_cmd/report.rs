//! A backtest job's report as one self-contained HTML page: the job, its
//! parameters, the summary, P&L by label, and the charts embedded as
//! base64 `data:` URIs, CSS inline. A small inline script marks `<body>`
//! with `data-charts-loaded` once every chart has loaded (and
//! `data-error` on any error), for a headless browser to check.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use arb_backtest::JobResult;

use super::charts::ChartSpec;
use super::{Job, series, summary_rows};

const STYLE: &str = "
body { font-family: 'DejaVu Sans', system-ui, sans-serif; color: #1d1d1f;
       max-width: 1280px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; font-weight: 600; }
td.num { text-align: right; font-family: 'DejaVu Sans Mono', monospace; }
code, pre { font-family: 'DejaVu Sans Mono', monospace; }
pre { background: #f7f7f9; border: 1px solid #e4e4e8; padding: 10px; overflow-x: auto; }
figure { margin: 18px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e8; }
figcaption { color: #555; font-size: 0.9em; }
.error { color: #b00020; white-space: pre-wrap; }
";

/// Marks `<body>` for a headless browser: `data-charts-loaded` (how many
/// charts loaded, set only when all did) at the load event, `data-error` for
/// any error, a chart that failed to load among them.
const SCRIPT: &str = r#"
(function () {
  var errors = [];
  function mark() {
    if (errors.length && document.body) {
      document.body.setAttribute("data-error", errors.join("; "));
    }
  }
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) {
      errors.push("cannot load " + (t.id || t.tagName));
    } else {
      errors.push(String(e.message || "error"));
    }
    mark();
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    errors.push("unhandled rejection: " + String(e.reason));
    mark();
  });
  window.addEventListener("load", function () {
    var charts = document.querySelectorAll("img.chart");
    var loaded = 0;
    for (var i = 0; i < charts.length; i++) {
      if (charts[i].complete && charts[i].naturalWidth > 0) {
        loaded++;
      } else {
        errors.push("chart " + charts[i].id + " did not decode");
      }
    }
    if (loaded === charts.length) {
      document.body.setAttribute("data-charts-loaded", String(loaded));
    }
    mark();
  });
})();
"#;

/// Text made safe for HTML content and attribute values.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn table(html: &mut String, rows: &[(&str, String)]) {
    html.push_str("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(
            html,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(k),
            escape(v)
        );
    }
    html.push_str("</table>\n");
}

/// The page, with `charts` (each one's PNG bytes) embedded, `size` pixels each.
pub(super) fn html(
    job: &Job,
    result: &JobResult,
    charts: &[(ChartSpec, Vec<u8>)],
    (width, height): (u32, u32),
) -> String {
    let mut h = String::new();
    let title = format!("Backtest {} ({})", job.id, job.strategy);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n<script>{SCRIPT}</script>\n</head>\n\
         <body data-charts=\"{}\">\n",
        escape(&title),
        charts.len()
    );
    let _ = writeln!(
        h,
        "<h1>Backtest: {}</h1>\n<p><code>{}</code>, {}</p>",
        escape(&job.strategy),
        job.id,
        escape(&job.status)
    );
    if let Some(e) = &job.error {
        let _ = writeln!(h, "<p class=\"error\">{}</p>", escape(e));
    }

    h.push_str("<h2>Job</h2>\n");
    table(&mut h, &job.rows());

    h.push_str("<h2>Parameters</h2>\n");
    let params = serde_json::to_string_pretty(&job.params).unwrap_or_default();
    let _ = writeln!(h, "<pre id=\"params\">{}</pre>", escape(&params));

    h.push_str("<h2>Summary</h2>\n");
    table(&mut h, &summary_rows(&result.summary));

    let currency = escape(&result.summary.currency);
    h.push_str("<h2>P&amp;L by venue pair or triangle</h2>\n");
    let labels = series::by_label(&result.trades);
    if labels.is_empty() {
        h.push_str("<p>no trades</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<table id=\"by-label\">\n<tr><th>label</th><th>trades</th>\
             <th>realized P&amp;L ({currency})</th><th>expected profit ({currency})</th>\
             <th>fees ({currency})</th></tr>"
        );
        for l in &labels {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&l.label),
                l.trades,
                l.realized_pnl,
                l.expected_profit,
                l.fees
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Charts</h2>\n");
    for (spec, png) in charts {
        let _ = writeln!(
            h,
            "<figure>\n<img class=\"chart\" id=\"{}\" alt=\"{}\" width=\"{width}\" \
             height=\"{height}\" src=\"data:image/png;base64,{}\">\n\
             <figcaption>{} ({})</figcaption>\n</figure>",
            spec.id,
            escape(spec.title),
            STANDARD.encode(png),
            escape(spec.title),
            spec.file
        );
    }
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">P&L's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;P&amp;L&#39;s&lt;/a&gt;"
        );
        assert_eq!(escape("sim-a→sim-b BTC-USD"), "sim-a→sim-b BTC-USD");
    }
}
