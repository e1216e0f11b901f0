//! The search: strategy, worker pool and store tied together, with events and resume.

mod candidate;
mod config;
mod events;
mod learning;
mod run;
#[allow(clippy::module_inception)]
mod search;

pub use config::{SearchConfig, SOFT_OBJECTIVE_EXPONENT};
pub use events::{SearchEvent, Summary};
pub use learning::{check as check_learning, NotLearning, NotLearningKind};
pub use run::{default_run_name, run_dir};
pub use search::{resume, start, start_temporary, start_unique};
