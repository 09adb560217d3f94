//! The setting names a service reads, derived from its configuration section types rather than
//! written down a second time.
//!
//! Every section is a `#[derive(Deserialize)]` struct, and serde's derive hands the deserializer
//! the struct's field names in [`serde::Deserializer::deserialize_struct`]. [`section_keys`]
//! runs a deserializer that only records them and stops there. Deployment files are checked
//! against the result: an environment variable a service does not read is a typo or a leftover.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

/// Names the process reads outside the typed sections: the tracing filter that overrides
/// `LOG_LEVEL`, the file [`super::Settings::load`] opens, and variables of the OpenTelemetry SDK
/// and exporter (resource attributes, exporter headers and timeout).
pub const PROCESS_KEYS: [&str; 5] = [
    "RUST_LOG",
    "CONFIG_FILE",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
];

/// The field names of the section `T`, as its `Deserialize` implementation declares them.
///
/// # Panics
/// If `T` does not deserialize from a struct (a section always does).
pub fn section_keys<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(FieldLister) {
        Err(Listed::Fields(fields)) => fields,
        Err(Listed::NotAStruct(what)) => panic!("a settings section is a struct, not {what}"),
        Ok(_) => unreachable!("the field lister never produces a value"),
    }
}

/// The upper-cased environment variable names of every given section, plus [`PROCESS_KEYS`].
pub fn setting_names(sections: &[&[&str]]) -> BTreeSet<String> {
    sections
        .iter()
        .flat_map(|fields| fields.iter())
        .chain(PROCESS_KEYS.iter())
        .map(|name| name.to_ascii_uppercase())
        .collect()
}

struct FieldLister;

#[derive(Debug)]
enum Listed {
    Fields(&'static [&'static str]),
    NotAStruct(String),
}

impl fmt::Display for Listed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fields(fields) => write!(f, "fields {fields:?}"),
            Self::NotAStruct(what) => write!(f, "not a struct: {what}"),
        }
    }
}

impl std::error::Error for Listed {}

impl de::Error for Listed {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self::NotAStruct(message.to_string())
    }
}

impl<'de> de::Deserializer<'de> for FieldLister {
    type Error = Listed;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Listed> {
        Err(Listed::Fields(fields))
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Listed> {
        Err(Listed::NotAStruct(format!("{}", Expecting(&visitor))))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A visitor's own description of what it expected, for the panic message.
struct Expecting<'a, V>(&'a V);

impl<'de, V: Visitor<'de>> fmt::Display for Expecting<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CommonConfig;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Section {
        first_key: String,
        #[serde(default)]
        second_key: Option<u32>,
    }

    #[test]
    fn lists_the_fields_serde_reads() {
        assert_eq!(section_keys::<Section>(), ["first_key", "second_key"]);
        assert!(section_keys::<CommonConfig>().contains(&"otel_exporter_otlp_endpoint"));
    }

    #[test]
    fn names_are_upper_cased_with_the_process_keys() {
        let names = setting_names(&[section_keys::<Section>()]);
        assert!(names.contains("FIRST_KEY") && names.contains("SECOND_KEY"));
        assert!(names.contains("RUST_LOG") && names.contains("CONFIG_FILE"));
    }

    #[test]
    #[should_panic(expected = "a settings section is a struct")]
    fn a_non_struct_is_refused() {
        let _ = section_keys::<u32>();
    }
}
