//! Parameter sweeps: `--sweep min_net_edge_bps=5,10,20 --sweep latency_ms=0,50`
//! is the grid of every combination (3 × 2 = 6 runs), in a fixed order (the
//! first axis varies slowest), each combination a list of `(name, value)`.

use std::collections::BTreeSet;
use std::str::FromStr;

/// One `--sweep name=v1,v2,...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

/// What is wrong with a `--sweep`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    #[error("bad --sweep {0:?}: not of the form name=value,value,...")]
    Form(String),
    #[error("bad --sweep {0:?}: a parameter name is letters, digits and '_' or '-'")]
    Name(String),
    #[error("bad --sweep {0:?}: an empty value")]
    EmptyValue(String),
    #[error("bad --sweep {0:?}: a value given twice")]
    Repeated(String),
    #[error("--sweep {0} given twice")]
    AxisTwice(String),
}

impl FromStr for Axis {
    type Err = SweepError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, values) = s
            .split_once('=')
            .ok_or_else(|| SweepError::Form(s.to_owned()))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(SweepError::Name(s.to_owned()));
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_owned()).collect();
        if values.iter().any(String::is_empty) {
            return Err(SweepError::EmptyValue(s.to_owned()));
        }
        if values.iter().collect::<BTreeSet<_>>().len() != values.len() {
            return Err(SweepError::Repeated(s.to_owned()));
        }
        Ok(Axis {
            name: name.to_owned(),
            values,
        })
    }
}

/// Every combination of the axes' values; one empty combination with no axes.
pub fn grid(axes: &[Axis]) -> Result<Vec<Vec<(String, String)>>, SweepError> {
    let mut names = BTreeSet::new();
    for a in axes {
        if !names.insert(a.name.replace('-', "_")) {
            return Err(SweepError::AxisTwice(a.name.clone()));
        }
    }
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in axes {
        out = out
            .into_iter()
            .flat_map(|combo| {
                axis.values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((axis.name.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    Ok(out)
}

/// The command-line flag a sweep parameter sets: `min_net_edge_bps=5` is
/// `--min-net-edge-bps=5`; a name ending in `_ms` (or `_s`) sets the
/// duration flag without it, `latency_ms=50` is `--latency=50ms`.
pub fn flag(name: &str, value: &str) -> String {
    let name = name.replace('_', "-");
    for unit in ["ms", "s"] {
        if let Some(base) = name.strip_suffix(&format!("-{unit}")) {
            return format!("--{base}={value}{unit}");
        }
    }
    format!("--{name}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(s: &str) -> Axis {
        s.parse().unwrap()
    }

    #[test]
    fn three_by_three_is_nine_distinct_combinations_first_axis_slowest() {
        let g = grid(&[
            axis("min_net_edge_bps=5,10,20"),
            axis("latency_ms=0,50,200"),
        ])
        .unwrap();
        assert_eq!(g.len(), 9);
        let distinct: BTreeSet<_> = g.iter().collect();
        assert_eq!(distinct.len(), 9);
        assert_eq!(
            g[0],
            vec![
                ("min_net_edge_bps".to_owned(), "5".to_owned()),
                ("latency_ms".to_owned(), "0".to_owned())
            ]
        );
        assert_eq!(g[1][1].1, "50");
        assert_eq!(g[3][0].1, "10");
        assert_eq!(grid(&[]).unwrap(), vec![Vec::<(String, String)>::new()]);
    }

    #[test]
    fn names_become_flags_and_durations_get_their_unit() {
        assert_eq!(flag("min_net_edge_bps", "5"), "--min-net-edge-bps=5");
        assert_eq!(flag("latency_ms", "50"), "--latency=50ms");
        assert_eq!(flag("max-book-age_s", "3"), "--max-book-age=3s");
        assert_eq!(flag("seed", "7"), "--seed=7");
    }

    #[test]
    fn bad_sweeps_are_refused_with_what_was_wrong() {
        for (s, want) in [
            (
                "min_net_edge_bps",
                SweepError::Form("min_net_edge_bps".into()),
            ),
            ("=1,2", SweepError::Name("=1,2".into())),
            ("a b=1", SweepError::Name("a b=1".into())),
            ("x=1,,2", SweepError::EmptyValue("x=1,,2".into())),
            ("x=1,1", SweepError::Repeated("x=1,1".into())),
        ] {
            assert_eq!(s.parse::<Axis>().unwrap_err(), want, "{s}");
        }
        let twice = grid(&[axis("seed=1,2"), axis("seed=3")]).unwrap_err();
        assert_eq!(twice, SweepError::AxisTwice("seed".into()));
    }
}
