//! Where a grid worker's report was made: the degrees in the counter form
//! (filled by the phone's location service through `position.js`, or typed),
//! else the GPS metadata (EXIF) of the first attached photo that has one.

use std::collections::HashMap;

use fengqiao_proto::fengqiao::common::v1::{GeoPoint, PointSource};

use crate::i18n::Lang;
use crate::views::Problem;

/// The form's point: `None` when both degree fields are empty, problems when
/// one is missing or not a number (ranges are intake's to judge).
pub fn from_form(fields: &HashMap<String, String>) -> Result<Option<GeoPoint>, Vec<Problem>> {
    let field = |k: &str| fields.get(k).map(|v| v.trim()).unwrap_or_default();
    let (latitude, longitude) = (field("latitude"), field("longitude"));
    if latitude.is_empty() && longitude.is_empty() {
        return Ok(None);
    }
    let degrees = |name: &str, text: &str, example: &str| {
        text.parse::<f64>().ok().filter(|d| d.is_finite()).ok_or_else(|| Problem {
            field: name.to_string(),
            description: format!("must be decimal degrees such as {example} (or leave both degree fields empty)"),
        })
    };
    let parsed = (degrees("latitude", latitude, "35.5428"), degrees("longitude", longitude, "106.6654"));
    let (latitude, longitude) = match parsed {
        (Ok(latitude), Ok(longitude)) => (latitude, longitude),
        (latitude, longitude) => return Err(latitude.err().into_iter().chain(longitude.err()).collect()),
    };
    let source = if field("point_source") == "device" { PointSource::Device } else { PointSource::Entered };
    let accuracy_m = field("accuracy_m").parse::<f64>().ok().filter(|a| a.is_finite() && *a >= 0.0);
    Ok(Some(GeoPoint {
        latitude,
        longitude,
        accuracy_m: accuracy_m.map_or(0, |a| a.round().min(f64::from(u32::MAX)) as u32),
        source: source as i32,
    }))
}

/// The GPS position a photo's EXIF metadata records, if any.
pub fn from_photo(bytes: &[u8]) -> Option<GeoPoint> {
    let exif = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)).ok()?;
    let degrees = |tag: exif::Tag, reference: exif::Tag, negative: u8| {
        let field = exif.get_field(tag, exif::In::PRIMARY)?;
        let exif::Value::Rational(ref parts) = field.value else { return None };
        let [d, m, s] = parts.get(..3)? else { return None };
        let value = d.to_f64() + m.to_f64() / 60.0 + s.to_f64() / 3600.0;
        let hemisphere = match exif.get_field(reference, exif::In::PRIMARY)?.value {
            exif::Value::Ascii(ref texts) => texts.first()?.first().copied()?,
            _ => return None,
        };
        value.is_finite().then_some(if hemisphere == negative { -value } else { value })
    };
    Some(GeoPoint {
        latitude: degrees(exif::Tag::GPSLatitude, exif::Tag::GPSLatitudeRef, b'S')?,
        longitude: degrees(exif::Tag::GPSLongitude, exif::Tag::GPSLongitudeRef, b'W')?,
        accuracy_m: 0,
        source: PointSource::Photo as i32,
    })
}

/// A point on one line for a page: degrees, accuracy, where it came from.
pub fn describe(point: &GeoPoint, lang: Lang) -> String {
    let (north, east) = match lang {
        Lang::Zh => (["北纬", "南纬"], ["东经", "西经"]),
        Lang::En => (["N", "S"], ["E", "W"]),
    };
    let lat = format!("{} {:.5}°", north[usize::from(point.latitude < 0.0)], point.latitude.abs());
    let lon = format!("{} {:.5}°", east[usize::from(point.longitude < 0.0)], point.longitude.abs());
    let source = PointSource::try_from(point.source).unwrap_or_default();
    let from = match (source, lang) {
        (PointSource::Device, Lang::Zh) => "手机定位",
        (PointSource::Device, Lang::En) => "phone's location",
        (PointSource::Photo, Lang::Zh) => "照片定位信息",
        (PointSource::Photo, Lang::En) => "photo's GPS data",
        (_, Lang::Zh) => "手工填写",
        (_, Lang::En) => "typed in",
    };
    let accuracy = if point.accuracy_m > 0 { format!(" ±{} m", point.accuracy_m) } else { String::new() };
    format!("{lat}, {lon}{accuracy} ({from})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_form_gives_a_point_nothing_or_problems_by_field() {
        assert_eq!(from_form(&form(&[("latitude", " "), ("longitude", "")])).unwrap(), None);
        let device = form(&[
            ("latitude", "35.5428"),
            ("longitude", "106.6654"),
            ("accuracy_m", "12.4"),
            ("point_source", "device"),
        ]);
        let point = from_form(&device).unwrap().unwrap();
        assert_eq!((point.latitude, point.longitude, point.accuracy_m), (35.5428, 106.6654, 12));
        assert_eq!(point.source, PointSource::Device as i32);
        let typed = from_form(&form(&[("latitude", "35.5"), ("longitude", "106.6")])).unwrap().unwrap();
        assert_eq!(typed.source, PointSource::Entered as i32);
        let problems = from_form(&form(&[("latitude", "北纬35"), ("longitude", "")])).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["latitude", "longitude"]);
        assert!(from_form(&form(&[("latitude", "NaN"), ("longitude", "1")])).is_err());
    }

    #[test]
    fn a_photo_without_gps_metadata_gives_no_point() {
        assert_eq!(from_photo(b"not an image"), None);
        assert_eq!(from_photo(&[0xff, 0xd8, 0xff, 0xd9]), None);
    }

    #[test]
    fn a_point_is_described_with_its_hemispheres_accuracy_and_source() {
        let p = GeoPoint { latitude: -33.5, longitude: 106.66541, accuracy_m: 8, source: PointSource::Photo as i32 };
        assert_eq!(describe(&p, Lang::En), "S 33.50000°, E 106.66541° ±8 m (photo's GPS data)");
        assert_eq!(
            describe(&GeoPoint { accuracy_m: 0, ..p }, Lang::Zh),
            "南纬 33.50000°, 东经 106.66541° (照片定位信息)"
        );
    }
}
