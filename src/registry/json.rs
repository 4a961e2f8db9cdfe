//! JSON registry rows: an array of objects with the CSV fields (`addresses` and `macs`
//! arrays of strings, `professional_use` a boolean). Each row's line is where its object starts.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Row;
use crate::config::line_of;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    device_id: Option<String>,
    authority: Option<String>,
    organisation: Option<String>,
    owner: Option<String>,
    purchase: Option<String>,
    subscription: Option<String>,
    usage: Option<String>,
    professional_use: Option<bool>,
    token_sha256: Option<String>,
    cert_sha256: Option<String>,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    macs: Vec<String>,
    status: Option<String>,
}

/// Reads rows; errors are `(line, reason)`.
pub(crate) fn rows(text: &str) -> Result<Vec<Row>, (usize, String)> {
    let raw: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|e| (e.line().max(1), format!("malformed JSON: {e}")))?;
    let base = text.as_ptr() as usize;
    let mut out = Vec::with_capacity(raw.len());
    for value in raw {
        let start = (value.get().as_ptr() as usize).saturating_sub(base);
        let line = line_of(text, start);
        let row: JsonRow = serde_json::from_str(value.get())
            .map_err(|e| (line + e.line().saturating_sub(1), strip_position(&e.to_string())))?;
        out.push(Row {
            line,
            device_id: row.device_id,
            authority: row.authority,
            organisation: row.organisation,
            owner: row.owner,
            purchase: row.purchase,
            subscription: row.subscription,
            usage: row.usage,
            professional_use: row.professional_use,
            token_sha256: row.token_sha256,
            cert_sha256: row.cert_sha256,
            addresses: row.addresses,
            macs: row.macs,
            status: row.status,
        });
    }
    Ok(out)
}

/// serde_json appends " at line L column C", which is relative to the row.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}
