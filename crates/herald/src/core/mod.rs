//! The pure core: no I/O. Rules, templates, retry schedules and response classification
//! are plain functions over plain data.

pub mod classify;
pub mod context;
pub mod decide;
pub mod filters;
pub mod json_view;
pub mod retry;
pub mod rules;
pub mod suggest;
pub mod template;
pub mod window;
