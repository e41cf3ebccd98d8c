//! Reading a fengqiao process's metrics: the Prometheus text at its metrics
//! address, and the parts of a series line the bench's parsers need.

use std::collections::BTreeMap;

/// The metrics text at `url` (`http://host:port/metrics`).
pub async fn fetch(url: &str) -> anyhow::Result<String> {
    // reqwest asks for the process's TLS provider even for plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = reqwest::get(url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| anyhow::anyhow!("cannot read the metrics at {url}: {e}; check --gateway-metrics"))?
        .text()
        .await?;
    Ok(text)
}

/// A sample line of `metric` (`name{labels} value`): the name's suffix after
/// `metric` (`_sum`, `_bucket`, …), its labels and its value; `None` for
/// other metrics, comments and lines that do not parse.
pub fn sample<'a>(line: &'a str, metric: &str) -> Option<(&'a str, BTreeMap<&'a str, &'a str>, f64)> {
    let rest = line.strip_prefix(metric)?;
    let (series, value) = rest.rsplit_once(' ')?;
    let (suffix, labels) = series.split_once('{')?;
    let labels = labels
        .trim_end_matches('}')
        .split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim(), v.trim().trim_matches('"')))
        })
        .collect();
    Some((suffix, labels, value.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_gives_its_suffix_labels_and_value() {
        let (suffix, labels, value) =
            sample(r#"fq_seconds_sum{component="gateway",holder="calls"} 12.5"#, "fq_seconds").expect("a sample");
        assert_eq!((suffix, value), ("_sum", 12.5));
        assert_eq!(labels, BTreeMap::from([("component", "gateway"), ("holder", "calls")]));
        assert!(sample("# TYPE fq_seconds histogram", "fq_seconds").is_none());
        assert!(sample(r#"other_seconds_sum{a="b"} 1"#, "fq_seconds").is_none());
        assert!(sample(r#"fq_seconds_sum{a="b"} not-a-number"#, "fq_seconds").is_none());
    }
}
