//! What a user should hear about a loaded data set before anything trains on it: its classes
//! and how many images of each every split holds (an unbalanced or nearly empty class explains
//! a poor search), the image size picked for a mixed-size folder, and what the image cache did.

use serde::Serialize;

use super::dataset::{Dataset, SplitKind};
use super::image_size::ImageSize;
use super::images::CacheStats;

/// The facts of a loaded data set, for the CLI to print and for JSON output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataSummary {
    pub name: String,
    /// Channels, height, width.
    pub input: [usize; 3],
    /// One name per class, in label order.
    pub class_names: Vec<String>,
    /// Images per class, in label order, of each split.
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
    /// The size folder images were fitted to.
    pub image_size: Option<ImageSize>,
    /// Why that size, when the default rule picked it.
    pub size_choice: Option<String>,
    pub cache: Option<CacheStats>,
}

impl Dataset {
    /// The summary of this data set.
    pub fn summary(&self) -> DataSummary {
        DataSummary {
            name: self.name.clone(),
            input: self.input,
            class_names: self.class_names.clone(),
            train: self.class_counts(SplitKind::Train),
            val: self.class_counts(SplitKind::Val),
            test: self.class_counts(SplitKind::Test),
            image_size: self.image_size,
            size_choice: self.size_choice.as_ref().map(|c| c.reason.clone()),
            cache: self.cache.clone(),
        }
    }
}
