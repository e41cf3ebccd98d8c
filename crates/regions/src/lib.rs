//! China's administrative division codes as published by the National Bureau
//! of Statistics (2023): 31 provinces, their cities, counties (6 digits),
//! townships and streets (9 digits) and villages and communities (12 digits).
//! The data ships in `data/regions` (WTFPL, see its licence file) and is
//! embedded in the binary; it is parsed once, on first use.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PROVINCES: &[u8] = include_bytes!("../../../data/regions/provinces.csv.gz");
const CITIES: &[u8] = include_bytes!("../../../data/regions/cities.csv.gz");
const AREAS: &[u8] = include_bytes!("../../../data/regions/areas.csv.gz");
const STREETS: &[u8] = include_bytes!("../../../data/regions/streets.csv.gz");
const VILLAGES: &[u8] = include_bytes!("../../../data/regions/villages.csv.gz");

/// The level of a division code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// 2 digits.
    Province,
    /// 4 digits.
    City,
    /// 6 digits: county, district, county-level city.
    County,
    /// 9 digits: township, town, street.
    Township,
    /// 12 digits: village or residents' committee.
    Village,
}

impl Level {
    /// The level of a code of this many digits.
    pub fn of_len(len: usize) -> Option<Level> {
        Some(match len {
            2 => Level::Province,
            4 => Level::City,
            6 => Level::County,
            9 => Level::Township,
            12 => Level::Village,
            _ => return None,
        })
    }
}

/// Every division code with its name.
pub struct Divisions {
    names: HashMap<u64, Box<str>>,
    /// How long parsing took (reported at start-up).
    pub load_time: Duration,
}

fn key(code: &str) -> Option<u64> {
    let level = Level::of_len(code.len())?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The length is folded into the key so 12 and 120000 stay distinct.
    Some(code.parse::<u64>().ok()? * 16 + level as u64)
}

fn load(into: &mut HashMap<u64, Box<str>>, gz: &[u8]) {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz).read_to_string(&mut text).expect("the embedded division data is valid gzip");
    for line in text.lines().skip(1) {
        let mut fields = line.splitn(3, ',');
        let (Some(code), Some(name)) = (fields.next(), fields.next()) else {
            continue;
        };
        if let Some(k) = key(code) {
            into.insert(k, name.trim_matches('"').into());
        }
    }
}

impl Divisions {
    fn parse() -> Self {
        let start = Instant::now();
        let mut names = HashMap::with_capacity(670_000);
        for gz in [PROVINCES, CITIES, AREAS, STREETS, VILLAGES] {
            load(&mut names, gz);
        }
        Divisions { names, load_time: start.elapsed() }
    }

    /// True when `code` (2, 4, 6, 9 or 12 digits) is a division of 2023.
    pub fn is_known(&self, code: &str) -> bool {
        key(code).is_some_and(|k| self.names.contains_key(&k))
    }

    /// The division's name.
    pub fn name(&self, code: &str) -> Option<&str> {
        self.names.get(&key(code)?).map(|n| &**n)
    }

    /// How many codes are known.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no code is known (never, with the embedded data).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The divisions, parsed on first use (about a second in a debug build).
pub fn divisions() -> &'static Divisions {
    static DIVISIONS: OnceLock<Divisions> = OnceLock::new();
    DIVISIONS.get_or_init(Divisions::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_of_kongtong_is_known_and_named() {
        let d = divisions();
        assert_eq!(d.name("62"), Some("甘肃省"));
        assert_eq!(d.name("6208"), Some("平凉市"));
        assert_eq!(d.name("620802"), Some("崆峒区"));
        assert_eq!(d.name("620802001"), Some("东关街道"));
        assert_eq!(d.name("620802001001"), Some("解放中路社区居委会"));
        assert!(d.len() > 660_000, "{}", d.len());
    }

    #[test]
    fn unknown_or_malformed_codes_are_not_known() {
        let d = divisions();
        for code in ["620899", "620802999", "620802001999", "62080200100", "6208020010011", "62080a", "", "00"] {
            assert!(!d.is_known(code), "{code}");
        }
    }
}
