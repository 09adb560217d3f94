//! Schema building blocks of the OpenAPI documents, and the schemas of the bounded fields.

use salvo::oapi::schema::Object;
use salvo::oapi::{BasicType, KnownFormat, SchemaFormat};

/// A string with no NUL character (PostgreSQL text cannot hold one).
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// A string of `min_chars..=max_chars` characters.
pub fn text(min_chars: usize, max_chars: usize) -> Object {
    Object::with_type(BasicType::String)
        .min_length(min_chars)
        .max_length(max_chars)
}

/// A 64-bit integer in `min..=max`.
pub fn integer(min: i64, max: i64) -> Object {
    Object::with_type(BasicType::Integer)
        .format(SchemaFormat::KnownFormat(KnownFormat::Int64))
        .minimum(min)
        .maximum(max)
}
