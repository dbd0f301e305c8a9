//! Value types written as strings in the config: durations (`500ms`, `30s`, `5m`, `2h`,
//! `7d`), sizes (`256KiB`, `10MiB`) and rates (`5000/s`).
//!
//! Each parses through serde, so a bad value is reported by the loader with the key path.
//! The errors say what was expected and never quote the value, which may have come from a
//! `${VAR}` holding a secret.

use std::fmt;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Deserializer, de};

/// Why a config value is not a duration, size or rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a duration.
    #[error("not a duration; write e.g. 500ms, 30s, 5m, 2h, 7d")]
    Duration,
    /// Not a size.
    #[error("not a size; write e.g. 256KiB or 10MiB")]
    Size,
    /// Not a rate.
    #[error("not a rate; write e.g. 5000/s, 100/m or 1000/h")]
    Rate,
    /// A rate of zero requests.
    #[error("a rate's count must be at least 1")]
    ZeroRate,
}

/// A length of time, written like `500ms`, `30s`, `5m`, `2h` or `7d`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub StdDuration);

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn secs(secs: u64) -> Self {
        Self(StdDuration::from_secs(secs))
    }

    /// A duration of `ms` milliseconds.
    pub const fn millis(ms: u64) -> Self {
        Self(StdDuration::from_millis(ms))
    }

    /// The standard library form.
    pub const fn get(self) -> StdDuration {
        self.0
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim())
            .map(Self)
            .map_err(|_| UnitError::Duration)
    }
}

/// A number of bytes, written like `256KiB`, `10MiB` or a plain integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

impl Size {
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }

    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl FromStr for Size {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| Self(b.as_u64()))
            .map_err(|_| UnitError::Size)
    }
}

/// A request rate, written `N/s`, `N/m` or `N/h`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per `per`.
    pub count: u32,
    /// The period the count applies to.
    pub per: StdDuration,
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, humantime::format_duration(self.per))
    }
}

impl FromStr for Rate {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, unit) = s.trim().split_once('/').ok_or(UnitError::Rate)?;
        let count: u32 = count.trim().parse().map_err(|_| UnitError::Rate)?;
        let per = match unit.trim() {
            "s" => StdDuration::from_secs(1),
            "m" => StdDuration::from_secs(60),
            "h" => StdDuration::from_secs(3600),
            _ => return Err(UnitError::Rate),
        };
        if count == 0 {
            return Err(UnitError::ZeroRate);
        }
        Ok(Self { count, per })
    }
}

/// Implements `Deserialize` through `FromStr` for the string-written types above; sizes
/// also accept a bare integer.
macro_rules! deserialize_from_str {
    ($($ty:ty),*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = StringOrNumber::deserialize(d)?;
                raw.0.parse().map_err(de::Error::custom)
            }
        }
    )*};
}

deserialize_from_str!(Duration, Size, Rate);

/// Accepts `30s` as well as a YAML integer, so that `max_payload: 1024` reads as bytes.
struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string such as 30s, 10MiB or 100/s")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        for (text, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("7d", 604_800_000),
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.get().as_millis(), ms, "{text}");
        }
        assert!("5 parsecs".parse::<Duration>().is_err());
        assert!("".parse::<Duration>().is_err());
    }

    #[test]
    fn sizes_parse_binary_units_and_plain_bytes() {
        assert_eq!("256KiB".parse::<Size>().unwrap().bytes(), 256 * 1024);
        assert_eq!("10MiB".parse::<Size>().unwrap(), Size::mib(10));
        assert_eq!("1024".parse::<Size>().unwrap().bytes(), 1024);
        assert!("lots".parse::<Size>().is_err());
    }

    #[test]
    fn rates_parse_count_and_period() {
        let r: Rate = "5000/s".parse().unwrap();
        assert_eq!((r.count, r.per), (5000, StdDuration::from_secs(1)));
        assert_eq!(
            "3/m".parse::<Rate>().unwrap().per,
            StdDuration::from_secs(60)
        );
        for bad in ["5000", "0/s", "5/fortnight", "x/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_parses_or_is_refused_without_a_panic(text in "\\PC{0,40}") {
                let _ = text.parse::<Duration>();
                let _ = text.parse::<Size>();
                let _ = text.parse::<Rate>();
            }

            #[test]
            fn written_values_read_back(n in 1u64..10_000_000, count in 1u32..100_000) {
                prop_assert_eq!(
                    format!("{n}ms").parse::<Duration>().unwrap().get().as_millis() as u64,
                    n
                );
                prop_assert_eq!(format!("{n}KiB").parse::<Size>().unwrap().bytes(), n * 1024);
                let rate: Rate = format!("{count}/m").parse().unwrap();
                prop_assert_eq!((rate.count, rate.per.as_secs()), (count, 60));
            }
        }
    }
}
