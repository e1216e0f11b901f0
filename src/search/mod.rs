//! The search: strategy, worker pool and store tied together, with events and resume.

mod brokered;
mod candidate;
mod config;
mod cores;
mod dispatch;
mod events;
mod finalists;
mod halving;
mod learning;
mod limits;
mod results;
mod run;
#[allow(clippy::module_inception)]
mod search;

pub use config::{Budget, Schedule, SearchConfig, MIN_STEPS, SOFT_OBJECTIVE_EXPONENT};
pub use events::Delivered;
pub use events::{SearchEvent, Summary};
pub use finalists::finalize;
pub use learning::{check as check_learning, NotLearning, NotLearningKind};
pub use run::{default_run_name, run_dir, utc_time};
pub use search::{resume, resume_with, start, start_temporary, start_unique};
