//! What an integration is built from, below both `config/` and `integrations/`: the
//! catalog each integration registers its kinds in, the `Builder` its kinds read their
//! options with, and the pieces of the configuration file every part reads (the spanned
//! document, diagnostics, `${env:…}` references, units).

pub mod build;
pub mod catalog;
pub mod diagnostic;
pub mod document;
pub mod interpolate;
pub mod keys;
pub mod units;

pub use build::Builder;
pub use catalog::{
    ActionCommon, ActionKind, Catalog, Integration, PollerKind, SectionContext, SectionKind,
    Sections, SourceKind,
};
pub use document::Item;
