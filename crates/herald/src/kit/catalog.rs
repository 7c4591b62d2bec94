//! The catalog of kinds: what each integration provides (source kinds, poller kinds, action
//! kinds, template filters, config sections), registered once in `integrations/mod.rs` and
//! looked up by name when the configuration loads.

use super::build::Builder;
use super::diagnostic::Diagnostics;
use super::document::Item;
use crate::action::Action;
use crate::core::template::Filters;
use crate::ingress::poller::Poller;
use crate::ingress::source::Source;
use crate::secret::Secret;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// Builds one source kind's `Source` from its own options and the resolved secrets.
pub type SourceBuilder = fn(Item<'_>, Vec<Secret>, &mut Builder<'_>) -> Option<Arc<dyn Source>>;

/// Builds one action kind's `Action` from its own options.
pub type ActionBuilder = fn(Item<'_>, &ActionCommon, &mut Builder<'_>) -> Option<Arc<dyn Action>>;

/// Builds one poller kind's `Poller` from its own options.
pub type PollerBuilder = fn(Item<'_>, &mut Builder<'_>) -> Option<Arc<dyn Poller>>;

/// Reads a config section (`[slack]`) into the settings its integration uses; called
/// with `None` when the file has no such section. Sections are read before anything
/// else, so filters and kinds can use them.
pub type SectionBuilder =
    fn(Option<Item<'_>>, &SectionContext<'_>, &mut Diagnostics) -> Arc<dyn Any + Send + Sync>;

/// What a section may need beyond its own table.
pub struct SectionContext<'a> {
    /// Files a section names (a state-machine file) are found relative to this.
    pub config_dir: &'a std::path::Path,
    /// Resolves `${env:…}` / `${file:…}` in a section's values (an API URL).
    pub interpolator: &'a super::interpolate::Interpolator,
}

impl SectionContext<'_> {
    /// An optional value with its references resolved; a reference that cannot be read
    /// is reported (once, at the section) and the value left unset.
    pub fn resolve(
        &self,
        value: &Option<Spanned<String>>,
        diagnostics: &mut Diagnostics,
    ) -> Option<String> {
        let value = value.as_ref()?;
        diagnostics.take(self.interpolator.resolve(value))
    }
}

/// Adds an integration's template filters, given the sections read.
pub type FilterRegistrar = fn(&mut Filters<'_>, &Sections);

/// The keys a kind or section accepts, as dotted paths (see `kit::keys`).
pub type OptionKeys = fn() -> Vec<String>;

pub struct SourceKind {
    pub name: &'static str,
    pub build: SourceBuilder,
    pub default_max_body: u64,
    /// The kind's own options, beyond those every source takes.
    pub options: OptionKeys,
}

pub struct ActionKind {
    pub name: &'static str,
    pub build: ActionBuilder,
    /// The kind's own options, beyond `kind`, `retry` and `timeout`.
    pub options: OptionKeys,
}

/// A source kind herald pulls from an API (`[sources.NAME] kind = "poller"`).
pub struct PollerKind {
    pub name: &'static str,
    pub build: PollerBuilder,
    /// The kind's own options (every option of a poller source is its kind's).
    pub options: OptionKeys,
}

pub struct SectionKind {
    pub name: &'static str,
    pub build: SectionBuilder,
    pub options: OptionKeys,
}

/// What every action kind's builder may need from the options all actions share.
pub struct ActionCommon {
    pub timeout: Duration,
}

/// Everything one integration folder provides.
pub struct Integration {
    pub name: &'static str,
    pub sources: &'static [SourceKind],
    pub actions: &'static [ActionKind],
    /// Source kinds that pull (pollers).
    pub pollers: &'static [PollerKind],
    pub sections: &'static [SectionKind],
    pub filters: Option<FilterRegistrar>,
}

impl Integration {
    /// An integration that provides nothing yet; fill in what it does.
    pub const fn named(name: &'static str) -> Self {
        Integration {
            name,
            sources: &[],
            actions: &[],
            pollers: &[],
            sections: &[],
            filters: None,
        }
    }
}

/// Every integration herald was built with.
#[derive(Clone, Copy)]
pub struct Catalog {
    pub integrations: &'static [Integration],
}

impl Catalog {
    pub fn sources(&self) -> impl Iterator<Item = &'static SourceKind> {
        self.integrations.iter().flat_map(|i| i.sources.iter())
    }

    pub fn actions(&self) -> impl Iterator<Item = &'static ActionKind> {
        self.integrations.iter().flat_map(|i| i.actions.iter())
    }

    pub fn pollers(&self) -> impl Iterator<Item = &'static PollerKind> {
        self.integrations.iter().flat_map(|i| i.pollers.iter())
    }

    pub fn sections(&self) -> impl Iterator<Item = &'static SectionKind> {
        self.integrations.iter().flat_map(|i| i.sections.iter())
    }

    pub fn source(&self, name: &str) -> Option<&'static SourceKind> {
        self.sources().find(|kind| kind.name == name)
    }

    pub fn action(&self, name: &str) -> Option<&'static ActionKind> {
        self.actions().find(|kind| kind.name == name)
    }

    pub fn poller(&self, name: &str) -> Option<&'static PollerKind> {
        self.pollers().find(|kind| kind.name == name)
    }

    /// Read every integration's section (`None` where the file has none).
    pub fn read_sections<'i>(
        &self,
        mut item: impl FnMut(&str) -> Option<Item<'i>>,
        context: &SectionContext<'_>,
        diagnostics: &mut Diagnostics,
    ) -> Sections {
        let settings = self
            .sections()
            .map(|section| {
                (
                    section.name,
                    (section.build)(item(section.name), context, diagnostics),
                )
            })
            .collect();
        Sections { settings }
    }

    /// Add every integration's template filters.
    pub fn register_filters(&self, env: &mut Filters<'_>, sections: &Sections) {
        for register in self.integrations.iter().filter_map(|i| i.filters) {
            register(env, sections);
        }
    }
}

/// The integrations' sections as read, by section name.
#[derive(Clone, Default)]
pub struct Sections {
    settings: BTreeMap<&'static str, Arc<dyn Any + Send + Sync>>,
}

impl Sections {
    /// Only section `name`, set to `settings` (for tests).
    pub fn with(name: &'static str, settings: Arc<dyn Any + Send + Sync>) -> Self {
        Sections {
            settings: BTreeMap::from([(name, settings)]),
        }
    }

    /// The settings of section `name`, as its integration reads them.
    pub fn get<T: Any + Send + Sync>(&self, name: &str) -> Option<&T> {
        self.settings.get(name)?.downcast_ref()
    }

    /// The settings of section `name`, or their defaults when it was not read.
    pub fn get_or_default<T: Any + Send + Sync + Clone + Default>(&self, name: &str) -> T {
        self.get::<T>(name).cloned().unwrap_or_default()
    }
}
