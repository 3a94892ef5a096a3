//! Whether a verified image is the one a checkpoint and a design call for.

use crate::error::{Problem, RegionProblem};
use crate::verify::Image;
use crate::write::plan_with_crcs;
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;

/// The shape fields on which `a` (the image's) and `b` (`source`'s) differ, named with
/// both values; `None` when they are the same shape.
pub fn shape_difference(a: &Config, b: &Config, source: &str) -> Option<String> {
    let mut diffs: Vec<String> = a
        .dims()
        .into_iter()
        .zip(b.dims())
        .filter(|((_, x), (_, y))| x != y)
        .map(|((f, x), (_, y))| format!("{f} {x} in the image, {y} in {source}"))
        .collect();
    if a.shared_classifier != b.shared_classifier {
        let says = |shared: bool| if shared { "shared" } else { "separate" };
        diffs.push(format!(
            "a {} classifier in the image, a {} one in {source}",
            says(a.shared_classifier),
            says(b.shared_classifier)
        ));
    }
    (!diffs.is_empty()).then(|| diffs.join(", "))
}

/// Refuse an image laid out for other lanes or another bus width than asked for (either
/// check is skipped when its value is `None`).
pub fn check_layout(
    image: &Image,
    lanes: Option<u32>,
    bus_bits: Option<u32>,
) -> Result<(), Problem> {
    let h = &image.header;
    if let Some(l) = lanes.filter(|&l| l != h.lanes) {
        return Err(Problem::Mismatch(format!(
            "the image is laid out for {} lanes, not the {l} lanes asked for (--lanes {l})",
            h.lanes
        )));
    }
    if let Some(b) = bus_bits.filter(|&b| b != h.bus_bits) {
        return Err(Problem::Mismatch(format!(
            "the image is laid out for a {}-bit bus, not the {b}-bit bus asked for (--bus-bits {b})",
            h.bus_bits
        )));
    }
    Ok(())
}

/// Refuse an image that is not exactly what `qm` (quantised from `source`) gives at the
/// image's own lanes and bus width: another shape, another scale mode, or other weights
/// (the first region whose CRC-32 differs is named).
pub fn check_model(image: &Image, qm: &QuantModel, source: &str) -> Result<(), Problem> {
    let h = &image.header;
    if let Some(d) = shape_difference(&h.config, &qm.config, source) {
        return Err(Problem::Mismatch(format!(
            "the image's model shape is not {source}'s: {d}"
        )));
    }
    if h.quant.scale_mode != qm.mode {
        return Err(Problem::Mismatch(format!(
            "the image's row scales are {:?}, {source}'s quantisation uses {:?}",
            h.quant.scale_mode, qm.mode
        )));
    }
    let want = plan_with_crcs(qm, h.lanes, h.bus_bits)?;
    for (index, (r, w)) in image.regions.iter().zip(&want.regions).enumerate() {
        if r.crc32 != w.crc32 {
            return Err(Problem::Region {
                index,
                name: r.name(),
                problem: RegionProblem::Differs {
                    source_name: source.to_string(),
                    stored: r.crc32,
                    expected: w.crc32,
                },
            });
        }
    }
    Ok(())
}
