//! A settings section declared once: each setting's name, type, default, allowed range and
//! meaning sit together in one [`settings_section!`](crate::settings_section) invocation, from
//! which the struct, its `Default`, the bounds check run while the section is extracted, the
//! list of environment variable names and the configuration reference are all generated.
//!
//! A setting with `#[range(..)]` is a bounded value: [`super::Settings::extract`] refuses a
//! value outside it with the same one-line error a parse failure gives, naming the key. Checks
//! that relate two settings, or that parse a value's inner syntax, stay with the service that
//! owns them.

use std::fmt::Display;
use std::ops::{Bound, RangeBounds};

use serde::de::DeserializeOwned;

use super::ConfigError;

/// A section of settings: a struct the environment deserializes into, with its settings listed.
pub trait Section: DeserializeOwned + Default {
    /// The heading of the section in the configuration reference.
    const TITLE: &'static str;
    /// The lower-case field names, which are the environment variable names lower-cased.
    const KEYS: &'static [&'static str];

    /// Refuses a value outside its declared range, naming the key.
    ///
    /// # Errors
    /// The first setting out of its range.
    fn check_bounds(&self) -> Result<(), ConfigError>;

    /// Each setting with its built-in default, for the reference. It reads only
    /// `Self::default()`, never loaded values, so a configured secret cannot reach the docs.
    fn describe() -> Vec<SettingDoc>;
}

/// One setting as the configuration reference shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingDoc {
    /// The environment variable, upper case.
    pub name: String,
    /// The default, as a reader should read it (`unset`, `` `order_events` ``, `300`).
    pub default: String,
    /// The accepted range of a bounded setting.
    pub range: Option<String>,
    /// What it does, from the field's doc comment.
    pub meaning: String,
}

impl SettingDoc {
    /// Used by [`settings_section!`](crate::settings_section); not meant to be called by hand.
    #[doc(hidden)]
    pub fn new(field: &str, default: String, range: Option<String>, doc: &[&str]) -> Self {
        let meaning = doc
            .iter()
            .map(|line| line.trim())
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            name: field.to_ascii_uppercase(),
            default,
            range,
            meaning,
        }
    }
}

/// How a default value reads in the reference.
pub trait SettingValue {
    fn show(&self) -> String;
}

macro_rules! shown_as_number {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
shown_as_number!(u8, u16, u32, u64, usize, i64, f64, bool);

impl SettingValue for String {
    fn show(&self) -> String {
        if self.is_empty() {
            "empty".into()
        } else {
            format!("`{self}`")
        }
    }
}

impl SettingValue for std::net::IpAddr {
    fn show(&self) -> String {
        format!("`{self}`")
    }
}

/// A built-in default is no secret (it is in the source); loaded values never get here.
impl SettingValue for super::Secret {
    fn show(&self) -> String {
        format!("`{}`", self.expose())
    }
}

impl<T: SettingValue> SettingValue for Option<T> {
    fn show(&self) -> String {
        self.as_ref()
            .map_or_else(|| "unset".into(), SettingValue::show)
    }
}

/// Implements [`SettingValue`] for enums whose serde name is what the operator types.
#[macro_export]
macro_rules! setting_value_by_serde_name {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::SettingValue for $ty {
            fn show(&self) -> String {
                $crate::serde_name(self)
            }
        }
    )*};
}

/// The name serde gives a unit enum variant, in backticks.
pub fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => format!("`{name}`"),
        other => format!("{other:?}"),
    }
}

/// Refuses `value` outside `range`, naming `field` as its environment variable.
///
/// # Errors
/// When the value is out of range; the reason states the range.
pub fn check_range<T, R>(field: &str, value: &T, range: &R) -> Result<(), ConfigError>
where
    T: PartialOrd + Display,
    R: RangeBounds<T>,
{
    if range.contains(value) {
        Ok(())
    } else {
        Err(ConfigError::new(field, requirement(range)))
    }
}

/// The range as a sentence: "must be between 4 and 31", "must be at least 1".
pub fn requirement<T: Display, R: RangeBounds<T>>(range: &R) -> String {
    match (range.start_bound(), range.end_bound()) {
        (Bound::Included(low), Bound::Included(high)) => {
            format!("must be between {low} and {high}")
        }
        (Bound::Included(low), Bound::Unbounded) => format!("must be at least {low}"),
        (Bound::Unbounded, Bound::Included(high)) => format!("must be at most {high}"),
        _ => "is out of range".into(),
    }
}

/// The range as the reference shows it: "4–31", "≥ 1".
pub fn range_text<T: Display, R: RangeBounds<T>>(range: &R) -> String {
    match (range.start_bound(), range.end_bound()) {
        (Bound::Included(low), Bound::Included(high)) => format!("{low}–{high}"),
        (Bound::Included(low), Bound::Unbounded) => format!("≥ {low}"),
        (Bound::Unbounded, Bound::Included(high)) => format!("≤ {high}"),
        _ => "bounded".into(),
    }
}

/// Declares a settings section once. Each field carries its doc comment (the reference's
/// "meaning"), optionally `#[range(..)]` (an inclusive or open-ended range the value must lie
/// in) and `#[shown("..")]` (the default as the reference should state it, when the value is
/// computed or required), then `name: Type = default;`. For example (not run here: the tests
/// below and every service's `config.rs` compile such declarations):
///
/// ```ignore
/// crate::settings_section! {
///     /// Example
///     pub struct ExampleSection {
///         /// Rounds per second.
///         #[range(1..=100)]
///         pub example_rate: u32 = 10;
///     }
/// }
/// ```
#[macro_export]
macro_rules! settings_section {
    (
        #[doc = $title:literal]
        $(#[doc = $more:literal])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $(#[range($range:expr)])?
                $(#[shown($shown:literal)])?
                $fvis:vis $field:ident : $ty:ty = $default:expr;
            )*
        }
    ) => {
        #[doc = $title]
        $(#[doc = $more])*
        #[derive(Debug, Clone, ::serde::Deserialize)]
        #[serde(default)]
        $vis struct $name {
            $( $(#[doc = $doc])+ $fvis $field: $ty, )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl $crate::Section for $name {
            const TITLE: &'static str = $title;
            const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn check_bounds(&self) -> ::core::result::Result<(), $crate::ConfigError> {
                $( $( $crate::check_range(stringify!($field), &self.$field, &$range)?; )? )*
                Ok(())
            }

            fn describe() -> ::std::vec::Vec<$crate::SettingDoc> {
                // Unused when every setting states its default in words.
                #[allow(unused_variables)]
                let defaults = <Self as ::core::default::Default>::default();
                ::std::vec![$(
                    $crate::SettingDoc::new(
                        stringify!($field),
                        $crate::settings_section!(@shown defaults.$field $(, $shown)?),
                        $crate::settings_section!(@range $($range)?),
                        &[$($doc),+],
                    ),
                )*]
            }
        }
    };
    (@shown $value:expr) => { $crate::SettingValue::show(&$value) };
    (@shown $value:expr, $shown:literal) => { ::std::string::String::from($shown) };
    (@range) => { None };
    (@range $range:expr) => { Some($crate::range_text(&$range)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    crate::settings_section! {
        /// Test section
        pub struct Sample {
            /// How many.
            #[range(1..=10)]
            pub sample_count: u32 = 3;
            /// Where.
            #[shown("computed")]
            pub sample_place: String = "here".into();
            /// Not required.
            pub sample_note: Option<String> = None;
        }
    }

    #[test]
    fn a_value_out_of_range_names_its_key() {
        let settings = Settings::from_pairs([("SAMPLE_COUNT", "11".to_owned())]);
        let error = settings.extract::<Sample>().unwrap_err();
        assert_eq!(error.key, "SAMPLE_COUNT");
        assert!(error.reason.contains("between 1 and 10"), "{error}");
        let ok: Sample = Settings::from_pairs([("SAMPLE_COUNT", "10".to_owned())])
            .extract()
            .unwrap();
        assert_eq!(ok.sample_count, 10);
    }

    #[test]
    fn the_reference_shows_defaults_ranges_and_meanings() {
        assert_eq!(
            Sample::KEYS,
            ["sample_count", "sample_place", "sample_note"]
        );
        let docs = Sample::describe();
        assert_eq!(docs[0].name, "SAMPLE_COUNT");
        assert_eq!(docs[0].default, "3");
        assert_eq!(docs[0].range.as_deref(), Some("1–10"));
        assert_eq!(docs[0].meaning, "How many.");
        assert_eq!(docs[1].default, "computed");
        assert_eq!(docs[2].default, "unset");
        assert_eq!(Sample::TITLE, " Test section");
    }

    #[test]
    fn open_ranges_read_naturally() {
        assert_eq!(requirement(&(1_u64..)), "must be at least 1");
        assert_eq!(range_text(&(0.0..=1.0)), "0–1");
    }
}
