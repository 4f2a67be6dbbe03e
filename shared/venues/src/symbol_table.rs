//! The per-symbol state every adapter keeps, built once in its `new`: one
//! entry per symbol served, in the order configured, with the venue's
//! spelling of it (what frames name it by) and the adapter's own state for
//! it (a book and where its synchronization stands).

use std::collections::HashMap;
use std::ops::{Index, IndexMut};

use arb_contract::Symbol;

/// Symbols served, their venue spellings, and a `T` for each; entries are
/// addressed by position.
#[derive(Debug, Clone)]
pub struct SymbolTable<T> {
    symbols: Vec<Symbol>,
    wires: Vec<String>,
    states: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> SymbolTable<T> {
    /// One entry per distinct symbol, in the order given: `wire` spells a
    /// symbol the venue's way, `state` makes its fresh state.
    pub fn new(
        symbols: impl IntoIterator<Item = Symbol>,
        wire: impl Fn(&Symbol) -> String,
        mut state: impl FnMut() -> T,
    ) -> Self {
        let mut t = SymbolTable {
            symbols: Vec::new(),
            wires: Vec::new(),
            states: Vec::new(),
            index: HashMap::new(),
        };
        for symbol in symbols {
            if t.symbols.contains(&symbol) {
                continue;
            }
            let w = wire(&symbol);
            t.index.insert(w.clone(), t.symbols.len());
            t.symbols.push(symbol);
            t.wires.push(w);
            t.states.push(state());
        }
        t
    }

    /// The entry a frame names by the venue's spelling.
    pub fn find(&self, wire: &str) -> Option<usize> {
        self.index.get(wire).copied()
    }

    /// The entry of a symbol in the contract's spelling.
    pub fn position(&self, symbol: &Symbol) -> Option<usize> {
        self.symbols.iter().position(|s| s == symbol)
    }

    pub fn symbol(&self, i: usize) -> &Symbol {
        &self.symbols[i]
    }

    pub fn wire(&self, i: usize) -> &str {
        &self.wires[i]
    }

    pub fn symbols(&self) -> impl ExactSizeIterator<Item = &Symbol> {
        self.symbols.iter()
    }

    pub fn wires(&self) -> impl ExactSizeIterator<Item = &str> {
        self.wires.iter().map(String::as_str)
    }

    pub fn states_mut(&mut self) -> impl ExactSizeIterator<Item = &mut T> {
        self.states.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}

impl<T> Index<usize> for SymbolTable<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.states[i]
    }
}

impl<T> IndexMut<usize> for SymbolTable<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.states[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_symbol_found_by_its_venue_spelling() {
        let syms = ["BTC/USD", "ETH/USD", "BTC/USD"].map(|s| s.parse::<Symbol>().unwrap());
        let mut n = 0;
        let mut t = SymbolTable::new(
            syms,
            |s| s.token(),
            || {
                n += 1;
                n
            },
        );
        assert_eq!(t.len(), 2, "the repeated symbol is served once");
        assert_eq!(t.wires().collect::<Vec<_>>(), ["BTC-USD", "ETH-USD"]);
        let eth = t.find("ETH-USD").unwrap();
        assert_eq!(
            (t.symbol(eth).to_string(), t.wire(eth), t[eth]),
            ("ETH/USD".into(), "ETH-USD", 2)
        );
        assert_eq!(t.position(&"ETH/USD".parse().unwrap()), Some(eth));
        assert_eq!(
            t.find("ETH/USD"),
            None,
            "frames name symbols the venue's way"
        );
        t[eth] = 7;
        assert_eq!(t.states_mut().map(|s| *s).collect::<Vec<_>>(), [1, 7]);
    }

    /// What each venue's frames name a symbol by (the table's `wire`).
    #[test]
    fn venue_spellings() {
        use crate::{binance, coinbase, kraken};
        type Spelling = fn(&Symbol) -> String;
        let cases: [(Spelling, &str, &str); 4] = [
            (binance::symbols::wire_symbol, "BTC/USDT", "BTCUSDT"),
            (
                binance::symbols::depth_stream,
                "BTC/USDT",
                "btcusdt@depth@100ms",
            ),
            (coinbase::symbols::product_id, "ETH/BTC", "ETH-BTC"),
            (kraken::symbols::wire_name, "BTC/USD", "BTC/USD"),
        ];
        for (spell, symbol, want) in cases {
            assert_eq!(spell(&symbol.parse().unwrap()), want, "{symbol}");
        }
    }
}
