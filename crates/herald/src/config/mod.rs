//! The configuration file: parsed, resolved and validated into ready-to-use types.
//! `load` is the entry point; each section and kind has its own file.

pub mod actions;
mod load;
pub mod model;
pub mod monitors;
mod needs;
pub mod reference;
pub mod rules;
pub mod schedules;
mod sections;
pub mod sources;
pub mod telemetry;
pub mod window;

pub use load::{Loaded, from_text, from_text_needing, load, load_needing, load_with_env};
pub use model::*;
pub use needs::{Absent, Needs};
