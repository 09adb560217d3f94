//! The one path from the environment to a service's configuration. A service names its binary,
//! its port, its sections (declared once with [`service_sections!`](crate::service_sections))
//! and how it assembles them; loading from the process environment, the list of variable names
//! deployment files are checked against, and the configuration reference all come from here.

use std::collections::BTreeSet;

use super::reference::{ServiceReference, process_settings};
use super::section_set::SectionSet;
use super::{CommonConfig, ConfigError, Profile, Settings, secrets};

/// A service's whole configuration.
pub trait ServiceConfig: Sized {
    /// The binary's name, as deployment files and the reference call it.
    const BINARY: &'static str;
    /// The documented port.
    const DEFAULT_PORT: u16;
    /// Defaults of this service that differ from the sections' own (its database URL, say),
    /// as (lower-case key, value). They sit below every other source.
    const DEFAULTS: &'static [(&'static str, &'static str)] = &[];
    /// Defaults that replace the sections' own under `APP_PROFILE=development` only, as
    /// (lower-case key, value): abuse limits a developer's test runs from one machine would
    /// meet, say, kept strict in production. Explicitly set values still win in both profiles.
    const DEVELOPMENT_DEFAULTS: &'static [(&'static str, &'static str)] = &[];
    /// Settings production must be given explicitly: the development fallbacks (a local server
    /// with default credentials) are refused there (see [`super::secrets`]).
    const REQUIRED_IN_PRODUCTION: &'static [&'static str] = &[];

    /// Every section the service reads, in the order the reference lists them, declared with
    /// [`service_sections!`](crate::service_sections).
    type Sections: SectionSet;

    /// Builds the configuration from its extracted sections, applying the checks that relate
    /// settings to each other. It is given the sections, not the settings, so that it cannot read
    /// a section the reference does not list.
    ///
    /// # Errors
    /// The first bad value, naming its key.
    fn assemble(sections: Self::Sections) -> Result<Self, ConfigError>;

    /// Loads from explicit settings (tests start several services in one process this way).
    ///
    /// # Errors
    /// The first bad value, naming its key.
    fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        // Before the service's own defaults are added, so that "not set" can be told apart.
        let profile = settings.extract::<CommonConfig>()?.app_profile;
        secrets::check_production(&settings, profile, Self::REQUIRED_IN_PRODUCTION)?;
        let settings = with_service_defaults::<Self>(settings, profile);
        Self::assemble(Self::Sections::extract(&settings)?)
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
        Self::Sections::sections()
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
        let sections = Self::Sections::sections()
            .into_iter()
            .map(|section| {
                let mut settings = (section.describe)();
                for setting in &mut settings {
                    if let Some((_, value)) = own_defaults.iter().find(|(k, _)| *k == setting.name)
                    {
                        setting.default.clone_from(value);
                    }
                    if let Some((_, value)) = Self::DEVELOPMENT_DEFAULTS
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(&setting.name))
                    {
                        setting.default = format!("{}; in development: {value}", setting.default);
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

fn with_service_defaults<C: ServiceConfig>(settings: Settings, profile: Profile) -> Settings {
    // A default only fills a key nothing set yet, so the development ones go first to take
    // precedence over the service's own.
    let development: &[(&str, &str)] = match profile {
        Profile::Development => C::DEVELOPMENT_DEFAULTS,
        Profile::Production => &[],
    };
    development.iter().chain(C::DEFAULTS).fold(
        settings.with_default("port", C::DEFAULT_PORT),
        |settings, (key, value)| {
            // Read as an environment value is, so that "100000" is a number.
            let value: figment::value::Value =
                value.parse().expect("parsing a value is infallible");
            settings.with_default(key, value)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::settings_section! {
        /// Limits
        pub struct Limits {
            /// Attempts.
            #[range(1..)]
            pub sample_limit: u32 = 5;
            /// Other attempts.
            pub sample_other: u32 = 7;
        }
    }

    crate::service_sections! {
        struct SampleSections {
            limits: Limits,
        }
    }

    #[derive(Debug)]
    struct Sample {
        limits: Limits,
    }

    impl ServiceConfig for Sample {
        const BINARY: &'static str = "sample";
        const DEFAULT_PORT: u16 = 1;
        const DEVELOPMENT_DEFAULTS: &'static [(&'static str, &'static str)] =
            &[("sample_limit", "100000")];

        type Sections = SampleSections;

        fn assemble(SampleSections { limits }: SampleSections) -> Result<Self, ConfigError> {
            Ok(Self { limits })
        }
    }

    fn limit(pairs: &[(&'static str, &str)]) -> u32 {
        let settings = Settings::from_pairs(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Sample::from_settings(settings).unwrap().limits.sample_limit
    }

    #[test]
    fn development_defaults_apply_in_development_only_and_below_set_values() {
        assert_eq!(limit(&[]), 5);
        assert_eq!(limit(&[("APP_PROFILE", "development")]), 100_000);
        assert_eq!(
            limit(&[("APP_PROFILE", "development"), ("SAMPLE_LIMIT", "3")]),
            3
        );
        assert_eq!(limit(&[("SAMPLE_LIMIT", "3")]), 3);
    }

    #[test]
    fn the_reference_states_the_development_default() {
        let reference = Sample::reference();
        let (_, settings) = &reference.sections[0];
        assert_eq!(settings[0].default, "5; in development: 100000");
        assert_eq!(settings[1].default, "7");
    }
}
