pub mod controller;
pub mod error;
pub mod space {
    pub mod decision;
}
pub mod strategy;
