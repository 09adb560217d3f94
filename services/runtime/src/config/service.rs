//! The one path from the environment to a service's configuration. A service names its binary,
//! its port, its sections and how it assembles them; loading from the process environment,
//! the list of variable names deployment files are checked against, and the configuration
//! reference all come from here.

use std::collections::BTreeSet;

use super::reference::{ServiceReference, process_settings};
use super::{CommonConfig, ConfigError, Section, SettingDoc, Settings, secrets};

/// A section as a service lists it.
#[derive(Debug, Clone, Copy)]
pub struct SectionRef {
    /// The reference's heading for it.
    pub title: &'static str,
    /// Its lower-case setting names.
    pub keys: &'static [&'static str],
    describe: fn() -> Vec<SettingDoc>,
}

impl SectionRef {
    pub fn of<T: Section>() -> Self {
        Self {
            title: T::TITLE.trim(),
            keys: T::KEYS,
            describe: T::describe,
        }
    }
}

/// A service's whole configuration.
pub trait ServiceConfig: Sized {
    /// The binary's name, as deployment files and the reference call it.
    const BINARY: &'static str;
    /// The documented port.
    const DEFAULT_PORT: u16;
    /// Defaults of this service that differ from the sections' own (its database URL, say),
    /// as (lower-case key, value). They sit below every other source.
    const DEFAULTS: &'static [(&'static str, &'static str)] = &[];
    /// Settings production must be given explicitly: the development fallbacks (a local server
    /// with default credentials) are refused there (see [`super::secrets`]).
    const REQUIRED_IN_PRODUCTION: &'static [&'static str] = &[];

    /// Every section the service reads, in the order the reference lists them.
    fn sections() -> Vec<SectionRef>;

    /// Extracts the sections and applies the checks that relate settings to each other.
    ///
    /// # Errors
    /// The first bad value, naming its key.
    fn assemble(settings: &Settings) -> Result<Self, ConfigError>;

    /// Loads from explicit settings (tests start several services in one process this way).
    ///
    /// # Errors
    /// The first bad value, naming its key.
    fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        // Before the service's own defaults are added, so that "not set" can be told apart.
        let profile = settings.extract::<CommonConfig>()?.app_profile;
        secrets::check_production(&settings, profile, Self::REQUIRED_IN_PRODUCTION)?;
        Self::assemble(&with_service_defaults::<Self>(settings))
    }

    /// Loads from the process environment and `CONFIG_FILE`.
    ///
    /// # Errors
    /// The first bad value, naming its key.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(Settings::load(Self::DEFAULT_PORT))
    }

    /// Every environment variable the service reads, upper case.
    fn setting_names() -> BTreeSet<String> {
        Self::sections()
            .iter()
            .flat_map(|section| section.keys.iter().map(|key| key.to_ascii_uppercase()))
            .chain(process_settings().into_iter().map(|setting| setting.name))
            .collect()
    }

    /// The service's settings with its built-in defaults, for the configuration reference.
    fn reference() -> ServiceReference {
        let port = Self::DEFAULT_PORT.to_string();
        let own_defaults: Vec<(String, String)> = std::iter::once(("PORT".to_owned(), port))
            .chain(
                Self::DEFAULTS
                    .iter()
                    .map(|(key, value)| (key.to_ascii_uppercase(), format!("`{value}`"))),
            )
            .collect();
        let sections = Self::sections()
            .into_iter()
            .map(|section| {
                let mut settings = (section.describe)();
                for setting in &mut settings {
                    if let Some((_, value)) = own_defaults.iter().find(|(k, _)| *k == setting.name)
                    {
                        setting.default.clone_from(value);
                    }
                }
                (section.title, settings)
            })
            .collect();
        ServiceReference {
            binary: Self::BINARY,
            port: Self::DEFAULT_PORT,
            sections,
        }
    }
}

fn with_service_defaults<C: ServiceConfig>(settings: Settings) -> Settings {
    C::DEFAULTS.iter().fold(
        settings.with_default("port", C::DEFAULT_PORT),
        |settings, (key, value)| settings.with_default(key, value),
    )
}
