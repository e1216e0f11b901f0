pub mod data;
pub mod error;
