//! The option keys a `Deserialize` type accepts, read from the type itself: each kind
//! lists its options with `keys_of::<Options>()`, so the reference file can be checked
//! against the code and never silently falls behind it.
//!
//! A tracing deserializer walks the type: every struct reports its field names, nested
//! structs report theirs as dotted paths (`supersede.group`), and every value is answered
//! with a harmless default (0, "", false, an empty list) so the walk goes on.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use std::cell::RefCell;
use std::collections::BTreeSet;

/// Every key `T` accepts, as dotted paths, sorted.
pub fn keys_of<T: DeserializeOwned>() -> Vec<String> {
    let keys = RefCell::new(BTreeSet::new());
    // A value that fails its own checks ends the walk, but the keys seen so far stay.
    let _ = T::deserialize(Tracer {
        prefix: String::new(),
        keys: &keys,
    });
    keys.into_inner().into_iter().collect()
}

#[derive(Debug)]
struct Stop(String);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        Stop(message.to_string())
    }
}

struct Tracer<'k> {
    prefix: String,
    keys: &'k RefCell<BTreeSet<String>>,
}

impl<'k> Tracer<'k> {
    fn at(&self, field: &str) -> Tracer<'k> {
        let prefix = if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        };
        Tracer {
            prefix,
            keys: self.keys,
        }
    }

    fn same(&self) -> Tracer<'k> {
        Tracer {
            prefix: self.prefix.clone(),
            keys: self.keys,
        }
    }
}

/// `toml::Spanned` wraps a value in a struct with these private fields; the wrapper is
/// not an option of its own.
fn is_spanned(name: &str) -> bool {
    name.contains("serde_spanned")
}

macro_rules! zero {
    ($($method:ident => $visit:ident($value:expr)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
            visitor.$visit($value)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = Stop;

    zero! {
        deserialize_any => visit_u64(0),
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i8(0),
        deserialize_i16 => visit_i16(0),
        deserialize_i32 => visit_i32(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u8(0),
        deserialize_u16 => visit_u16(0),
        deserialize_u32 => visit_u32(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f32(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char(' '),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_identifier => visit_str(""),
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    /// A list is walked through one element, so a list of tables reports its keys.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_seq(OneElement(Some(self)))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Stop> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.deserialize_seq(visitor)
    }

    /// A map's keys are the user's own (headers, variables): nothing to report.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_map(de::value::MapDeserializer::new(
            std::iter::empty::<((), ())>(),
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let spanned = is_spanned(name);
        if !spanned {
            let mut keys = self.keys.borrow_mut();
            keys.extend(fields.iter().map(|field| self.at(field).prefix));
        }
        visitor.visit_map(Fields {
            tracer: self,
            fields: fields.iter(),
            current: "",
            spanned,
        })
    }

    /// An enum is answered with its first variant, as a unit or a walked newtype.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let first = variants.first().copied().unwrap_or_default();
        visitor.visit_enum(FirstVariant {
            name: first,
            tracer: self,
        })
    }
}

struct OneElement<'k>(Option<Tracer<'k>>);

impl<'de> de::SeqAccess<'de> for OneElement<'_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        self.0
            .take()
            .map(|tracer| seed.deserialize(tracer))
            .transpose()
    }
}

struct Fields<'k> {
    tracer: Tracer<'k>,
    fields: std::slice::Iter<'static, &'static str>,
    current: &'static str,
    spanned: bool,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        let Some(field) = self.fields.next() else {
            return Ok(None);
        };
        self.current = field;
        // Borrowed, as `Spanned` wants its private field names.
        seed.deserialize(de::value::BorrowedStrDeserializer::new(field))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        let tracer = if self.spanned {
            self.tracer.same()
        } else {
            self.tracer.at(self.current)
        };
        seed.deserialize(tracer)
    }
}

struct FirstVariant<'k> {
    name: &'static str,
    tracer: Tracer<'k>,
}

impl<'de, 'k> de::EnumAccess<'de> for FirstVariant<'k> {
    type Error = Stop;
    type Variant = Tracer<'k>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Tracer<'k>), Stop> {
        let variant = seed.deserialize(self.name.into_deserializer())?;
        Ok((variant, self.tracer))
    }
}

impl<'de> de::VariantAccess<'de> for Tracer<'_> {
    type Error = Stop;

    fn unit_variant(self) -> Result<(), Stop> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Stop> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Stop> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::keys_of;
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use toml::Spanned;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Mode {
        Fast,
        Slow,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        group: Spanned<String>,
        keep: Option<Spanned<String>>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        token: Spanned<String>,
        #[serde(default)]
        update: bool,
        mode: Option<Spanned<Mode>>,
        headers: BTreeMap<String, String>,
        supersede: Option<Spanned<Inner>>,
        steps: Vec<Inner>,
        size: Option<Spanned<crate::kit::units::RawSize>>,
    }

    #[test]
    fn keys_are_read_from_the_type_with_nested_tables_dotted() {
        assert_eq!(
            keys_of::<Outer>(),
            [
                "headers",
                "mode",
                "size",
                "steps",
                "steps.group",
                "steps.keep",
                "supersede",
                "supersede.group",
                "supersede.keep",
                "token",
                "update",
            ]
        );
    }
}
