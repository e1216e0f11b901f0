//! The training loop of one child: seeded initialisation, SGD with momentum and weight decay,
//! a cosine schedule with warm-up, evaluation with batch norm in eval mode, time and memory
//! budgets, and failure detection. A child that fails is data (`Outcome::Failed`), not an error.

mod config;
mod loss;
mod memory;
mod outcome;
mod plan;
mod sgd;
mod state;
mod step;
mod trainer;
mod weights;

pub use config::TrainConfig;
pub use loss::cross_entropy;
pub use memory::{activation_bytes, mem_available};
pub use outcome::{Metrics, Outcome, TrainEvent, Trained};
pub use plan::TrainPlan;
pub use sgd::{cycle_learning_rate, learning_rate, Sgd};
pub use state::Progress;
pub use step::loss_and_grads;
pub use trainer::{evaluate, train, train_from_weights, train_plan};
pub use weights::{load_weights, read_init_weights, set_weights, weights_to_safetensors};

#[cfg(test)]
pub(crate) mod tests;
