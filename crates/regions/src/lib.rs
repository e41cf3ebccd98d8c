//! China's administrative division codes as published by the National Bureau
//! of Statistics (2023): 31 provinces, their cities, counties (6 digits),
//! townships and streets (9 digits) and villages and communities (12 digits).
//! The data ships in `data/regions` (WTFPL, see its licence file) and is
//! embedded in the binary; it is parsed once, on first use.

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
    /// Every name, one after another (12.8 MB for 665,000 names).
    text: String,
    /// Sorted by code key: each code's key and where its name lies in `text` (start and length in
    /// bytes). Two allocations in all instead of a map with one string a name: ~24 MB held where
    /// the map held ~46 MB.
    codes: Vec<(u64, u32, u16)>,
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

impl Divisions {
    /// Adds the divisions of one embedded file, read a line at a time (the files hold ~39 MB of text
    /// in all, which a process would otherwise hold at start-up).
    fn load(&mut self, gz: &[u8]) {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(flate2::read::GzDecoder::new(gz));
        let mut line = String::new();
        let mut header = true;
        while lines.read_line(&mut line).expect("the embedded division data is valid gzip of UTF-8") > 0 {
            if !std::mem::take(&mut header) {
                self.add(line.trim_end());
            }
            line.clear();
        }
    }

    /// Adds one line of a file: `code,"name",…`.
    fn add(&mut self, line: &str) {
        let mut fields = line.splitn(3, ',');
        let (Some(code), Some(name)) = (fields.next(), fields.next()) else {
            return;
        };
        let name = name.trim_matches('"');
        let (Some(k), Ok(start), Ok(len)) = (key(code), u32::try_from(self.text.len()), u16::try_from(name.len()))
        else {
            return;
        };
        self.text.push_str(name);
        self.codes.push((k, start, len));
    }

    /// Parses the embedded files.
    fn parse() -> Self {
        let start = Instant::now();
        // Room for the 2023 data, so neither grows (and copies) while loading.
        let (text, codes) = (String::with_capacity(13 << 20), Vec::with_capacity(670_000));
        let mut divisions = Divisions { text, codes, load_time: Duration::ZERO };
        for gz in [PROVINCES, CITIES, AREAS, STREETS, VILLAGES] {
            divisions.load(gz);
        }
        // A stable sort keeps the first of a code listed twice.
        divisions.codes.sort_by_key(|&(k, _, _)| k);
        divisions.codes.dedup_by_key(|&mut (k, _, _)| k);
        divisions.load_time = start.elapsed();
        divisions
    }

    /// True when `code` (2, 4, 6, 9 or 12 digits) is a division of 2023.
    pub fn is_known(&self, code: &str) -> bool {
        self.find(code).is_some()
    }

    /// The division's name.
    pub fn name(&self, code: &str) -> Option<&str> {
        let (_, start, len) = self.codes[self.find(code)?];
        self.text.get(start as usize..start as usize + len as usize)
    }

    /// Where `code` is in `codes`.
    fn find(&self, code: &str) -> Option<usize> {
        let k = key(code)?;
        self.codes.binary_search_by_key(&k, |&(k, _, _)| k).ok()
    }

    /// The bytes the divisions hold in memory.
    pub fn held_bytes(&self) -> usize {
        self.text.capacity() + self.codes.capacity() * std::mem::size_of::<(u64, u32, u16)>()
    }

    /// How many codes are known.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when no code is known (never, with the embedded data).
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}

/// The divisions, parsed on first use (0.65 s in a debug build, a fraction of that in release).
pub fn divisions() -> &'static Divisions {
    DIVISIONS.get_or_init(Divisions::parse)
}

/// Whether [`divisions`] has been parsed in this process (nothing waits for it).
pub fn loaded() -> bool {
    DIVISIONS.get().is_some()
}

static DIVISIONS: OnceLock<Divisions> = OnceLock::new();

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
    fn the_divisions_hold_under_25_mb() {
        let held = divisions().held_bytes();
        assert!(held < 25 << 20, "{} MB", held >> 20);
    }

    #[test]
    fn every_line_of_the_embedded_files_is_a_known_code() {
        use std::io::Read;
        let mut lines = 0;
        for gz in [PROVINCES, CITIES, AREAS, STREETS, VILLAGES] {
            let mut text = String::new();
            flate2::read::GzDecoder::new(gz).read_to_string(&mut text).unwrap();
            for line in text.lines().skip(1) {
                let (code, name) = line.split_once(',').unwrap();
                let name = name.split(',').next().unwrap().trim_matches('"');
                assert_eq!(divisions().name(code), Some(name), "{code}");
                lines += 1;
            }
        }
        assert_eq!(divisions().len(), lines);
    }

    #[test]
    fn unknown_or_malformed_codes_are_not_known() {
        let d = divisions();
        for code in ["620899", "620802999", "620802001999", "62080200100", "6208020010011", "62080a", "", "00"] {
            assert!(!d.is_known(code), "{code}");
        }
    }
}
