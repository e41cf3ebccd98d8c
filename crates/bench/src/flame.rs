//! A flame graph drawn from folded stacks (`process;caller;callee` → samples), as
//! flamegraph.pl draws them: each frame a box as wide as the samples it was on the
//! stack for, its callees stacked above it, siblings in name order; hovering a box
//! names it with its samples and share. Drawn here rather than by the `inferno`
//! crate, whose CDDL licence would join the Apache-2.0 `fengqiao` binary.

use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
const PAD: f64 = 10.0;
const FRAME: f64 = 16.0;
const TOP: f64 = 40.0;
/// Boxes narrower than this (in pixels) are left out, with their callees.
const NARROWEST: f64 = 0.3;
/// Roughly a character's width at the labels' size, to fit a label in its box.
const CHAR: f64 = 6.5;

/// A frame and the frames called from it, with the samples each was on the stack for.
#[derive(Debug, Default)]
struct Node {
    samples: u64,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn of(folded: &BTreeMap<String, u64>) -> Self {
        let mut root = Node::default();
        for (stack, samples) in folded {
            root.samples += samples;
            let mut node = &mut root;
            for frame in stack.split(';') {
                node = node.children.entry(frame.to_string()).or_default();
                node.samples += samples;
            }
        }
        root
    }

    /// Frames from this one to the top of its highest stack drawn `per_sample` pixels a sample.
    fn depth(&self, per_sample: f64) -> usize {
        let drawn = self.children.values().filter(|c| c.samples as f64 * per_sample >= NARROWEST);
        1 + drawn.map(|c| c.depth(per_sample)).max().unwrap_or(0)
    }
}

/// `s` safe inside SVG text and attributes.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A warm colour for `name`, the same for the same name in every graph; idle is grey.
fn colour(name: &str) -> String {
    if name == crate::profile::IDLE {
        return "rgb(200,200,200)".into();
    }
    // FNV-1a: stable across runs and builds, unlike the standard library's hasher.
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("rgb({},{},{})", 205 + h % 50, (h >> 8) % 230, (h >> 16) % 55)
}

/// One frame's box and label, then its callees above it.
fn draw(out: &mut String, name: &str, node: &Node, x: f64, level: usize, geometry: (f64, f64, u64)) {
    let (per_sample, bottom, total) = geometry;
    let width = node.samples as f64 * per_sample;
    if width < NARROWEST {
        return;
    }
    let y = bottom - (level as f64 + 1.0) * FRAME;
    let share = node.samples as f64 * 100.0 / total as f64;
    let name_text = escape(name);
    let _ = write!(
        out,
        r#"<g><title>{name_text} ({} samples, {share:.2} %)</title><rect x="{x:.2}" y="{y:.1}" width="{width:.2}" height="{:.1}" fill="{}" rx="2"/>"#,
        node.samples,
        FRAME - 1.0,
        colour(name)
    );
    let fits = ((width - 6.0) / CHAR).floor() as usize;
    if fits >= 3 {
        let label: String = match name.chars().count() <= fits {
            true => name.to_string(),
            false => name.chars().take(fits - 2).chain("..".chars()).collect(),
        };
        let _ = write!(out, r#"<text x="{:.2}" y="{:.1}">{}</text>"#, x + 3.0, y + FRAME - 4.5, escape(&label));
    }
    out.push_str("</g>\n");
    let mut child_x = x;
    for (child_name, child) in &node.children {
        draw(out, child_name, child, child_x, level + 1, geometry);
        child_x += child.samples as f64 * per_sample;
    }
}

/// The flame graph of `folded` as an SVG document titled `title`.
pub fn svg(title: &str, folded: &BTreeMap<String, u64>) -> String {
    let root = Node::of(folded);
    let per_sample = (WIDTH - 2.0 * PAD) / root.samples.max(1) as f64;
    let height = TOP + root.depth(per_sample) as f64 * FRAME + PAD * 2.0;
    let bottom = height - PAD;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Verdana, sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fafafa"/>
<text x="{}" y="24" font-size="15" text-anchor="middle">{}</text>
"##,
        WIDTH / 2.0,
        escape(title)
    );
    if root.samples > 0 {
        draw(&mut out, "all", &root, PAD, 0, (per_sample, bottom, root.samples));
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(stacks: &[(&str, u64)]) -> BTreeMap<String, u64> {
        stacks.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    }

    /// The attribute `attr` (`x`, `y`, `width`) of the box whose title begins with `name (`.
    fn box_of(svg: &str, name: &str, attr: &str) -> f64 {
        let at = svg.find(&format!("<title>{name} (")).unwrap_or_else(|| panic!("no box {name} in {svg}"));
        let rest = &svg[at..];
        let value = &rest[rest.find(&format!(" {attr}=\"")).expect("the attribute") + attr.len() + 3..];
        value[..value.find('"').expect("its end")].parse().expect("a number")
    }

    #[test]
    fn each_frame_is_a_box_as_wide_as_the_samples_it_was_on_the_stack_for() {
        let svg = svg("t", &folded(&[("postgres;exec;scan", 3), ("postgres;exec;sort", 1), ("nats-server;run", 4)]));
        let (x, y, width) = (|n| box_of(&svg, n, "x"), |n| box_of(&svg, n, "y"), |n| box_of(&svg, n, "width"));
        let whole = WIDTH - 2.0 * PAD;
        assert!((width("all") - whole).abs() < 0.01, "{svg}");
        assert!((width("postgres") - whole / 2.0).abs() < 0.01);
        assert!((width("exec") - whole / 2.0).abs() < 0.01);
        assert!((width("scan") - whole * 3.0 / 8.0).abs() < 0.01);
        assert!((width("sort") - whole / 8.0).abs() < 0.01);
        assert!(svg.contains("<title>scan (3 samples, 37.50 %)</title>"), "{svg}");
        // A callee sits one frame above its caller.
        assert_eq!(y("exec") - y("scan"), FRAME);
        assert_eq!(y("postgres") - y("exec"), FRAME);
        // Siblings side by side in name order, each starting where the one before ended.
        assert!((x("nats-server") - PAD).abs() < 0.01, "{svg}");
        assert!((x("postgres") - (PAD + whole / 2.0)).abs() < 0.01);
        assert!((x("sort") - (x("scan") + width("scan"))).abs() < 0.01);
    }

    #[test]
    fn names_are_escaped_and_frames_too_narrow_to_see_are_left_out() {
        let narrow = svg("a <run> & more", &folded(&[("p;drop_in_place<T>", 1), ("p;wide", 1_000_000)]));
        assert!(narrow.contains("a &lt;run&gt; &amp; more"));
        // One sample in a million is 0.001 px: not drawn.
        assert!(!narrow.contains("drop_in_place"), "{narrow}");
        assert!(narrow.contains("<title>wide ("));
        let alone = svg("t", &folded(&[("p;drop_in_place<T>", 1)]));
        assert!(alone.contains("<title>drop_in_place&lt;T&gt; (1 samples"), "{alone}");
    }

    #[test]
    fn a_label_longer_than_its_box_is_cut_and_an_empty_profile_draws_no_box() {
        let long = "a".repeat(400);
        let cut = svg("t", &folded(&[(&format!("p;{long}"), 1), ("p;other", 3)]));
        assert!(cut.contains(&format!("<title>{long} (")), "the title keeps the whole name");
        assert!(cut.contains("..</text>"), "{cut}");
        assert!(!cut.contains(&format!(">{long}</text>")));
        // The graph is as tall as its highest stack drawn: the narrow one's 30 frames are not drawn.
        let deep = (0..30).map(|i| format!("f{i}")).collect::<Vec<_>>().join(";");
        let tall = svg("t", &folded(&[(&format!("p;{deep}"), 1), ("p;q", 1_000_000)]));
        assert!(tall.contains(&format!(r#"height="{}""#, TOP + 3.0 * FRAME + 2.0 * PAD)), "{tall}");
        let empty = svg("t", &BTreeMap::new());
        assert!(!empty.contains("<rect x="), "{empty}");
        assert!(empty.ends_with("</svg>\n"));
    }

    #[test]
    fn a_name_has_the_same_colour_every_time_and_idle_is_grey() {
        assert_eq!(colour("postgres"), colour("postgres"));
        assert_ne!(colour("postgres"), colour("nats-server"));
        assert_eq!(colour(crate::profile::IDLE), "rgb(200,200,200)");
    }
}
