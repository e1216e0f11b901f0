//! Decision points: the flat list of choices that a strategy fills, one index per point.
//! A strategy sees only this list; it never needs to know what a cell is.

use serde::{Deserialize, Serialize};

/// One decision point of a search space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Dotted path of the point, such as `stage1.cell0.kernel`; unique within a space.
    pub name: String,
    /// Human-readable labels of the options; the decision's value is an index into this list.
    pub options: Vec<String>,
    /// What the decision means to a controller.
    pub kind: DecisionKind,
    /// When set, the controller's hidden state at this step stands for anchor `a` (a cell or a
    /// stage input) that later skip decisions may attend to.
    pub anchor: Option<usize>,
}

/// The two kinds of decision a controller distinguishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DecisionKind {
    /// A plain categorical choice among `options`.
    Choice,
    /// A binary choice (options `no`, `yes`): does the cell of anchor `to` take the output of
    /// anchor `from` as an extra input? Zoph and Le pick these by attention over anchors.
    Skip { from: usize, to: usize },
}

impl Decision {
    /// Number of options of this decision.
    pub fn len(&self) -> usize {
        self.options.len()
    }

    /// True when the decision has no options (never the case in a validated space).
    pub fn is_empty(&self) -> bool {
        self.options.is_empty()
    }
}

/// A full assignment: one option index per decision point, in the space's order.
pub type Decisions = Vec<usize>;
