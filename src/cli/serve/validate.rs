//! Reading a request's fields (query strings and JSON bodies alike), each checked against its
//! bounds with a message that names the field and the value as typed.

use super::reply::{ApiError, Params};
use super::tensor;
use minitorch::datasets::Dataset;
use serde_json::{Map, Value};

/// Reads a count from the query or the body: `name` within `min..=max`, `default` when absent.
pub(super) fn count(
    value: Option<&Value>,
    name: &str,
    default: usize,
    min: usize,
    max: usize,
) -> std::result::Result<usize, ApiError> {
    let n = match value {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_u64().map(|v| v as u128).or_else(|| {
            // Negative or fractional: reported below with the value.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e30)
                .map(|f| f as u128)
        }),
        Some(Value::String(s)) => s.trim().parse::<u128>().ok(),
        _ => None,
    };
    let shown = match value {
        Some(Value::String(s)) => shown_text(s),
        Some(v) => v.to_string(),
        None => unreachable!(),
    };
    let n = n.ok_or_else(|| {
        ApiError::bad(format!(
            "{name} {shown}: must be a whole number from {min} to {max}"
        ))
    })?;
    if n < min as u128 || n > max as u128 {
        return Err(ApiError::bad(format!(
            "{name} {shown}: must be from {min} to {max}"
        )));
    }
    Ok(n as usize)
}

/// A field's text as typed, quoted only when it is not a plain word or number.
pub(super) fn shown_text(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

/// A number field (finite).
pub(super) fn number(
    value: Option<&Value>,
    name: &str,
    default: f64,
) -> std::result::Result<f64, ApiError> {
    let v = match value {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    v.filter(|v| v.is_finite()).ok_or_else(|| {
        let shown = match value {
            Some(Value::String(s)) => shown_text(s),
            Some(v) => v.to_string(),
            None => String::new(),
        };
        ApiError::bad(format!("{name} {shown}: must be a finite number"))
    })
}

/// A string field.
pub(super) fn text<'a>(
    value: Option<&'a Value>,
    name: &str,
) -> std::result::Result<Option<&'a str>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad(format!("{name} {other}: must be a string"))),
    }
}

/// The query's parameters as JSON strings (so one set of readers serves queries and bodies),
/// refusing any name not in `known`.
pub(super) fn query_fields(
    params: &Params,
    known: &[&str],
) -> std::result::Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (k, v) in params {
        if !known.contains(&k.as_str()) {
            return Err(ApiError::bad(format!(
                "unknown parameter {k:?}; expected {}",
                known.join(", ")
            )));
        }
        out.insert(k.clone(), Value::String(v.clone()));
    }
    Ok(out)
}

/// The request body as a JSON object, refusing any name not in `known`.
pub(super) fn body_fields(
    body: &[u8],
    known: &[&str],
) -> std::result::Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad("the body must be a JSON object"));
    };
    if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "unknown field {k:?}; expected {}",
            known.join(", ")
        )));
    }
    Ok(map)
}

pub(super) fn dataset(name: Option<&str>) -> std::result::Result<Dataset, ApiError> {
    let name = name.ok_or_else(|| ApiError::bad("a dataset name is needed"))?;
    name.parse::<Dataset>()
        .map_err(|e| ApiError::bad(e.to_string()))
}

pub(super) fn list(
    f: &Map<String, Value>,
    name: &str,
) -> std::result::Result<Option<Vec<usize>>, ApiError> {
    match text(f.get(name), name)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => tensor::parse_list(name, s).map(Some).map_err(ApiError::bad),
    }
}
