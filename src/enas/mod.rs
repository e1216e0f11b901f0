//! ENAS (Pham et al. 2018): one shared network holds the weights of every option at every
//! position of a cell space; children (drawn uniformly by default, single-path one-shot
//! training, or by the LSTM controller as in ENAS) are trained one minibatch each on their
//! share; the controller learns from children it samples, rated on validation minibatches under
//! the shared weights, so a CPU search rates thousands of architectures instead of a dozen. At
//! the end the shared weights rate N architectures (drawn uniformly by default, or from the
//! controller's policy) and the best are trained stand-alone as ordinary candidates. How long
//! the shared weights train matters as much as what they train: at MNIST's default child
//! budget, five uniform passes over the 3,000 images ranked 20 architectures at Kendall tau
//! 0.52 against their stand-alone accuracy, ten at -0.06 (`EnasConfig::train_from`).
//!
//! How options share weights (`plan`): each convolution, batch norm and linear layer of a
//! position keeps one block per input source, sized for the widest option; a child takes the
//! leading output channels and the leading channels of each source it reads (slimmable and
//! Once-for-All networks), a grouped convolution the block-diagonal part of the dense weight.
//! A smaller kernel takes the centre of the largest by default (`--enas-kernels centre`), or
//! its own weights (`own`, as ENAS's macro space keeps one weight per operation). Centred
//! kernels were measured to learn much faster in the short training a CPU affords: on MNIST
//! `resnet-cells` after two passes over 3,000 images (94 steps, uniformly sampled children,
//! learning rate 0.1), ten random children rated 41-57% under centred kernels and 17-26% under
//! their own (`tests::shared_learning_probe`). Outside a stage, its last cell is named by
//! its distance from the stage's end, so the next stage and the classifier keep their weights
//! whatever the stage's depth (Once-for-All's elastic depth); that lifted the same ratings from
//! 23-53% to 41-57%.
//!
//! Batch norm: the shared network keeps no running statistics (they would fit no child); a
//! child is trained and rated on its batch's own statistics, as ENAS does.
//!
//! The steps drive the trainer's kernels and do not fork them: a child's parameters are
//! gathered into an ordinary `ChildNet`, trained one step by `ChildNet::train_step` on a
//! reused `Workspace`, and its gradients scattered back (`shared`).

mod alternate;
mod blocks;
mod checkpoint;
mod config;
mod derive;
mod events;
mod extents;
mod largest;
mod plan;
mod run;
mod shared;
mod standalone;

pub use config::{EnasConfig, KernelSharing, Sampling};
pub use derive::kendall_tau;
pub use events::{Derived, EnasEvent, EpochStats};
pub use extents::Extents;
pub use run::{check, progress, run};
pub use shared::{SharedNet, SharedSgd};

#[cfg(test)]
mod tests;
