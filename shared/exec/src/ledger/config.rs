//! Starting balances from `--balance` text, with typed parse errors.

use std::collections::BTreeMap;
use std::str::FromStr;

use arb_contract::SubjectError;
use arb_contract::subject::check_token;
use arb_contract::symbol::normalize_asset;
use rust_decimal::Decimal;
use thiserror::Error;

/// One venue's starting balances, as one `--balance` value gives them:
/// `sim-a:USD=100000,BTC=2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartingBalances {
    pub venue: String,
    /// Amount per asset code (normalized: upper case).
    pub assets: BTreeMap<String, Decimal>,
}

/// A `--balance` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BalanceParseError {
    #[error("balance {text:?} is not of the form VENUE:ASSET=AMOUNT[,ASSET=AMOUNT...]")]
    UnknownForm { text: String },
    #[error("balance {text:?} names no usable venue: {source}")]
    BadVenue {
        text: String,
        #[source]
        source: SubjectError,
    },
    #[error("asset code {asset:?} is not letters and digits")]
    BadAsset { asset: String },
    #[error("amount {value:?} of {asset} is not a decimal number")]
    BadNumber { asset: String, value: String },
    #[error("amount {amount} of {asset} is negative")]
    Negative { asset: String, amount: Decimal },
    #[error("asset {asset} is given twice for venue {venue}")]
    DuplicateAsset { venue: String, asset: String },
}

impl FromStr for StartingBalances {
    type Err = BalanceParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || BalanceParseError::UnknownForm {
            text: text.to_owned(),
        };
        let (venue, list) = text.trim().split_once(':').ok_or_else(unknown)?;
        let venue = check_token("venue", venue.trim())
            .map_err(|source| BalanceParseError::BadVenue {
                text: text.to_owned(),
                source,
            })?
            .to_owned();
        let mut assets = BTreeMap::new();
        for item in list.split(',') {
            let (asset, value) = item.split_once('=').ok_or_else(unknown)?;
            let asset = normalize_asset(asset);
            if asset.is_empty() || !asset.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(BalanceParseError::BadAsset { asset });
            }
            let value = value.trim();
            let amount = Decimal::from_str(value).map_err(|_| BalanceParseError::BadNumber {
                asset: asset.clone(),
                value: value.to_owned(),
            })?;
            if amount < Decimal::ZERO {
                return Err(BalanceParseError::Negative { asset, amount });
            }
            if assets.insert(asset.clone(), amount.abs()).is_some() {
                return Err(BalanceParseError::DuplicateAsset { venue, asset });
            }
        }
        Ok(StartingBalances { venue, assets })
    }
}
