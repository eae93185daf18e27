//! The Tensor tab: a shape, optional strides and a permutation, and for every index the storage
//! position it reads (MiniTorch Module 2's strides view); and the broadcast of two shapes, with
//! the index of each operand that every output index reads. All of it is [`Layout`]'s and
//! [`shape_broadcast`]'s; this module only lists it.

use minitorch::Layout;
use minitorch::layout::{broadcast_index, shape_broadcast};
use serde_json::{Value, json};

/// Most elements whose indices are listed (the page draws one cell per element).
pub const MAX_LISTED: usize = 1024;

/// Parses `2,3,4`, `(2, 3, 4)` or `[2 3 4]` into sizes; `what` names the field in errors.
pub fn parse_list(what: &str, text: &str) -> Result<Vec<usize>, String> {
    let inner = text
        .trim()
        .trim_start_matches(['(', '['])
        .trim_end_matches([')', ']']);
    let items: Vec<&str> = inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(format!(
            "{what} {text:?} is empty: give sizes separated by commas, like 2,3,4"
        ));
    }
    items
        .iter()
        .map(|item| {
            item.parse::<usize>().map_err(|_| {
                format!("{what} {text:?}: {item:?} is not a whole number of at least 0")
            })
        })
        .collect()
}

/// Every index of `layout` in row-major order with its storage position.
fn cells(layout: &Layout) -> Vec<Value> {
    layout
        .indices()
        .map(|index| json!({ "index": &*index, "position": layout.position(&index) }))
        .collect()
}

fn describe(layout: &Layout) -> Value {
    json!({
        "shape": layout.shape(),
        "strides": layout.strides(),
        "offset": layout.offset(),
        "size": layout.size(),
        "span": layout.span(),
        "contiguous": layout.is_contiguous(),
        "cells": cells(layout),
    })
}

fn too_many(size: usize) -> Result<(), String> {
    if size > MAX_LISTED {
        return Err(format!(
            "{size} elements: at most {MAX_LISTED} are listed (one cell each on the page)"
        ));
    }
    Ok(())
}

/// The layout of `shape` (packed row-major, or with `strides` and `offset` when given) and of
/// its permutation by `order` (identity when none).
pub fn layout(
    shape: &[usize],
    strides: Option<&[usize]>,
    offset: usize,
    order: Option<&[usize]>,
) -> Result<Value, String> {
    let base = match strides {
        Some(strides) => Layout::new(shape, strides, offset),
        None => Layout::contiguous(shape).and_then(|l| Layout::new(shape, l.strides(), offset)),
    }
    .map_err(|e| e.to_string())?;
    too_many(base.size())?;
    let identity: Vec<usize> = (0..base.dims()).collect();
    let order = order.unwrap_or(&identity);
    let permuted = base.permute(order).map_err(|e| e.to_string())?;
    Ok(json!({
        "layout": describe(&base),
        "order": order,
        "permuted": describe(&permuted),
    }))
}

/// The broadcast of shapes `a` and `b`: the result's shape, each operand's broadcast strides,
/// and for every output index the operands' indices and storage positions.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Value, String> {
    let la = Layout::contiguous(a).map_err(|e| e.to_string())?;
    let lb = Layout::contiguous(b).map_err(|e| e.to_string())?;
    let shape = shape_broadcast(a, b).map_err(|e| e.to_string())?;
    let out = Layout::contiguous(&shape).map_err(|e| e.to_string())?;
    too_many(out.size())?;
    let (ba, bb) = (
        la.broadcast_to(&shape).map_err(|e| e.to_string())?,
        lb.broadcast_to(&shape).map_err(|e| e.to_string())?,
    );
    let mut ia = vec![0; a.len()];
    let mut ib = vec![0; b.len()];
    let cells: Vec<Value> = out
        .indices()
        .map(|index| {
            broadcast_index(&index, &shape, a, &mut ia);
            broadcast_index(&index, &shape, b, &mut ib);
            json!({
                "index": &*index,
                "a": { "index": ia, "position": la.position(&ia) },
                "b": { "index": ib, "position": lb.position(&ib) },
            })
        })
        .collect();
    Ok(json!({
        "a": a,
        "b": b,
        "shape": &*shape,
        "a_strides": ba.strides(),
        "b_strides": bb.strides(),
        "cells": cells,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_several_spellings() {
        assert_eq!(parse_list("shape", "2,3,4"), Ok(vec![2, 3, 4]));
        assert_eq!(parse_list("shape", " (2, 3) "), Ok(vec![2, 3]));
        assert_eq!(parse_list("shape", "[5 1]"), Ok(vec![5, 1]));
        assert!(parse_list("shape", "").unwrap_err().contains("empty"));
        assert!(parse_list("shape", "2,-1").unwrap_err().contains("\"-1\""));
    }

    #[test]
    fn a_permutation_reorders_strides_and_reads_the_same_cells() {
        let v = layout(&[2, 3, 4], None, 0, Some(&[2, 0, 1])).unwrap();
        assert_eq!(v["layout"]["strides"], json!([12, 4, 1]));
        assert_eq!(v["permuted"]["shape"], json!([4, 2, 3]));
        assert_eq!(v["permuted"]["strides"], json!([1, 12, 4]));
        assert_eq!(v["permuted"]["contiguous"], false);
        // Index (1, 0, 2) of the permuted view is (0, 2, 1) of the original: position 9.
        let cells = v["permuted"]["cells"].as_array().unwrap();
        let cell = cells
            .iter()
            .find(|c| c["index"] == json!([1, 0, 2]))
            .unwrap();
        assert_eq!(cell["position"], 9);
        assert_eq!(cells.len(), 24);
    }

    #[test]
    fn explicit_strides_and_offset() {
        let v = layout(&[2, 2], Some(&[1, 2]), 3, None).unwrap();
        assert_eq!(v["layout"]["cells"][1]["position"], 5);
        assert_eq!(v["layout"]["span"], 7);
    }

    #[test]
    fn bad_layouts_say_why() {
        assert!(
            layout(&[2, 3], None, 0, Some(&[0, 0]))
                .unwrap_err()
                .contains("permutation")
        );
        assert!(layout(&[2, 3], Some(&[1]), 0, None).is_err());
        assert!(layout(&[0, 3], None, 0, None).is_err());
        assert!(
            layout(&[64, 64], None, 0, None)
                .unwrap_err()
                .contains("at most 1024")
        );
        assert!(layout(&[1; 9], None, 0, None).is_err());
    }

    #[test]
    fn broadcasting_pins_size_one_dims() {
        let v = broadcast(&[3, 1], &[4]).unwrap();
        assert_eq!(v["shape"], json!([3, 4]));
        assert_eq!(v["a_strides"], json!([1, 0]));
        assert_eq!(v["b_strides"], json!([0, 1]));
        let cell = &v["cells"][6]; // index (1, 2)
        assert_eq!(cell["index"], json!([1, 2]));
        assert_eq!(cell["a"]["index"], json!([1, 0]));
        assert_eq!(cell["b"]["index"], json!([2]));
        assert!(broadcast(&[5, 2], &[5]).unwrap_err().contains("broadcast"));
    }
}
