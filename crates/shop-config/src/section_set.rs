//! The sections a service reads, declared once with
//! [`service_sections!`](crate::service_sections): one struct whose fields are the sections, in
//! the order the reference lists them. The list the reference and the deployment checks read and
//! the extraction the service assembles its configuration from are both generated from that
//! declaration, so no section can be listed without being read, or read without being listed.

use super::{ConfigError, Section, SettingDoc, Settings};

/// A section as a service lists it.
#[derive(Debug, Clone, Copy)]
pub struct SectionRef {
    /// The reference's heading for it.
    pub title: &'static str,
    /// Its lower-case setting names.
    pub keys: &'static [&'static str],
    pub(crate) describe: fn() -> Vec<SettingDoc>,
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

/// Every section of a service, as [`service_sections!`](crate::service_sections) declares them.
pub trait SectionSet: Sized {
    /// The sections in declaration order, which is the reference's order.
    fn sections() -> Vec<SectionRef>;

    /// Extracts every section, in declaration order.
    ///
    /// # Errors
    /// The first bad value, naming its key ([`Deferred`] sections keep theirs).
    fn extract(settings: &Settings) -> Result<Self, ConfigError>;
}

/// A field of a [`SectionSet`]: a section, or a [`Deferred`] one.
pub trait SectionField: Sized {
    /// The section the field holds.
    fn section() -> SectionRef;

    /// The field's value from `settings`.
    ///
    /// # Errors
    /// The first bad value of the section, naming its key.
    fn extract_field(settings: &Settings) -> Result<Self, ConfigError>;
}

impl<T: Section> SectionField for T {
    fn section() -> SectionRef {
        SectionRef::of::<T>()
    }

    fn extract_field(settings: &Settings) -> Result<Self, ConfigError> {
        settings.extract()
    }
}

/// A section that matters only when another setting turns its feature on (the email channel's,
/// say). It is listed and extracted like any other, but a bad value in it stops start-up only
/// when the service [takes](Deferred::take) it: settings of a feature that is off are not read.
#[derive(Debug)]
pub struct Deferred<T>(Result<T, ConfigError>);

impl<T> Deferred<T> {
    /// The section, or the first bad value in it.
    ///
    /// # Errors
    /// That bad value, naming its key.
    pub fn take(self) -> Result<T, ConfigError> {
        self.0
    }
}

impl<T: Section> SectionField for Deferred<T> {
    fn section() -> SectionRef {
        SectionRef::of::<T>()
    }

    fn extract_field(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self(settings.extract()))
    }
}

/// Declares the sections a service reads, once: a struct with one field per section (a type
/// made with [`settings_section!`](crate::settings_section), or [`Deferred`] of one), and its
/// [`SectionSet`], whose list follows the fields' order. The service's
/// [`ServiceConfig::assemble`](crate::ServiceConfig::assemble) receives the struct; destructuring
/// it without `..` makes the compiler point at any section declared but not used. For example
/// (not run here: the tests below and every service's `config.rs` compile such declarations):
///
/// ```ignore
/// shop_config::service_sections! {
///     /// What the example service reads.
///     pub struct ExampleSections {
///         common: CommonConfig,
///         mail: Deferred<MailSection>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! service_sections {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$field_attr:meta])*
                $field_vis:vis $field:ident : $ty:ty
            ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $( $(#[$field_attr])* $field_vis $field: $ty, )+
        }

        impl $crate::SectionSet for $name {
            fn sections() -> ::std::vec::Vec<$crate::SectionRef> {
                ::std::vec![$( <$ty as $crate::SectionField>::section(), )+]
            }

            fn extract(
                settings: &$crate::Settings,
            ) -> ::core::result::Result<Self, $crate::ConfigError> {
                // Fields are initialised in the order written: the declaration's order.
                ::core::result::Result::Ok(Self {
                    $( $field: <$ty as $crate::SectionField>::extract_field(settings)?, )+
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::settings_section! {
        /// First
        pub struct First {
            /// A count.
            #[range(1..)]
            pub first_count: u32 = 1;
        }
    }

    crate::settings_section! {
        /// Second
        pub struct Second {
            /// Another count.
            #[range(1..)]
            pub second_count: u32 = 2;
        }
    }

    crate::settings_section! {
        /// Optional feature
        pub struct Feature {
            /// The feature's count.
            #[range(1..)]
            pub feature_count: u32 = 3;
        }
    }

    crate::service_sections! {
        #[derive(Debug)]
        struct Sample {
            first: First,
            feature: Deferred<Feature>,
            second: Second,
        }
    }

    fn extract(pairs: &[(&'static str, &str)]) -> Result<Sample, ConfigError> {
        Sample::extract(&Settings::from_pairs(
            pairs.iter().map(|(key, value)| (*key, (*value).to_owned())),
        ))
    }

    #[test]
    fn sections_are_listed_in_declaration_order_deferred_ones_included() {
        let titles: Vec<&str> = Sample::sections()
            .iter()
            .map(|section| section.title)
            .collect();
        assert_eq!(titles, ["First", "Optional feature", "Second"]);
        assert_eq!(Sample::sections()[1].keys, ["feature_count"]);
    }

    #[test]
    fn every_declared_section_is_extracted() {
        let sample = extract(&[
            ("FIRST_COUNT", "4"),
            ("FEATURE_COUNT", "5"),
            ("SECOND_COUNT", "6"),
        ])
        .unwrap();
        assert_eq!(sample.first.first_count, 4);
        assert_eq!(sample.feature.take().unwrap().feature_count, 5);
        assert_eq!(sample.second.second_count, 6);
        // The last one too: its bad value stops the extraction.
        assert_eq!(
            extract(&[("SECOND_COUNT", "0")]).unwrap_err().key,
            "SECOND_COUNT"
        );
    }

    #[test]
    fn a_deferred_section_fails_only_when_taken() {
        let sample = extract(&[("FEATURE_COUNT", "0")]).expect("the feature is not taken yet");
        assert_eq!(sample.feature.take().unwrap_err().key, "FEATURE_COUNT");
    }
}
