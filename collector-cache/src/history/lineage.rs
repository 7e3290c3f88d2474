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
