//! The lineage record of one sweep name: the history it appended to last,
//! and what that history's key is made of.

use collector_core::HistoryIdentity;
use serde::{Deserialize, Serialize};

use super::{Lineage, LineageChange};

/// As stored in the `lineage` family, under the sweep name. The field
/// names and order are the on-disk format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LineageRec {
    /// The history the sweep name appended to last.
    pub(crate) history_key: String,
    /// What that history's key is made of.
    pub(crate) identity: HistoryIdentity,
}

impl LineageRec {
    pub(crate) fn new(history_key: &str, lineage: &Lineage) -> Self {
        LineageRec {
            history_key: history_key.to_string(),
            identity: lineage.identity.clone(),
        }
    }

    /// The change when a run of `identity` goes to `history_key` instead.
    pub(crate) fn change_to(
        &self,
        history_key: &str,
        identity: &HistoryIdentity,
    ) -> Option<LineageChange> {
        (self.history_key != history_key).then(|| LineageChange {
            previous_key: self.history_key.clone(),
            changes: identity.changes_from(&self.identity),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use collector_core::{InputVar, ResultVar, Sweep};

    use super::*;
    use crate::schema::{Family, Lineages};

    /// Golden bytes of a lineage record (a change here is a format change).
    const GOLDEN_LINEAGE: &str = concat!(
        "83a6666f726d617402a46b696e64a76c696e65616765a77061796c6f6164c45c82ab686973746f72",
        "795f6b6579a2686ba86964656e7469747984a3746167a26369a77265706561747301a6696e707574",
        "739183a46e616d65a16ea5756e697473a175a676616c75657381a3496e74920102a9636f6e737461",
        "6e747390",
    );

    #[test]
    fn lineage_bytes_are_pinned() {
        let sweep = Sweep::builder("g")
            .input(InputVar::int_values("n", [1, 2]).units("u"))
            .result(ResultVar::float("t"))
            .tag("ci")
            .build()
            .unwrap();
        let rec = LineageRec::new(
            "hk",
            &Lineage {
                sweep: "g".into(),
                identity: HistoryIdentity::of(&sweep),
            },
        );
        let bytes = Lineages::encode("g", &rec).unwrap().to_vec();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, GOLDEN_LINEAGE, "the lineage encoding changed");
        assert_eq!(Lineages::decode(&bytes).unwrap(), rec);
    }
}
