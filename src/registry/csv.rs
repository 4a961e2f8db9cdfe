//! CSV registry rows (RFC 4180, header row required; the header is line 1).

use super::{Row, COLUMNS};

/// Reads rows; errors are `(line, reason)`.
pub(crate) fn rows(text: &str) -> Result<Vec<Row>, (usize, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| (1, format!("bad header row: {e}")))?
        .clone();
    let mut index = [None; COLUMNS.len()];
    for (i, name) in headers.iter().enumerate() {
        let name = name.trim();
        let Some(col) = COLUMNS.iter().position(|c| *c == name) else {
            return Err((1, format!("unknown column {name:?}")));
        };
        if index[col].replace(i).is_some() {
            return Err((1, format!("column {name:?} appears twice")));
        }
    }
    for required in ["device_id", "authority", "purchase", "subscription", "usage", "status"] {
        let col = COLUMNS.iter().position(|c| *c == required).unwrap_or(0);
        if index[col].is_none() {
            return Err((1, format!("missing required column {required:?}")));
        }
    }
    let mut out = Vec::new();
    let mut lines = Lines::new(text);
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(1, |p| lines.of(p.byte()));
            (line, format!("malformed row: {}", e.kind_description()))
        })?;
        let line = record.position().map_or(1, |p| lines.of(p.byte()));
        let get = |name: &str| -> Option<String> {
            let col = COLUMNS.iter().position(|c| *c == name)?;
            index[col].and_then(|i| record.get(i)).map(str::to_owned)
        };
        let professional_use = match get("professional_use").as_deref().map(str::trim) {
            None | Some("") | Some("false") => Some(false),
            Some("true") => Some(true),
            Some(other) => return Err((line, format!("professional_use {other:?} must be true or false"))),
        };
        out.push(Row {
            line,
            device_id: get("device_id"),
            authority: get("authority"),
            organisation: get("organisation"),
            owner: get("owner"),
            purchase: get("purchase"),
            subscription: get("subscription"),
            usage: get("usage"),
            professional_use,
            token_sha256: get("token_sha256"),
            cert_sha256: get("cert_sha256"),
            addresses: get("addresses")
                .map(|a| a.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            macs: get("macs")
                .map(|a| a.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            status: get("status"),
        });
    }
    Ok(out)
}

/// Physical line numbers (from 1) of byte offsets in `text`, whatever the line ends:
/// CRLF (RFC 4180, as spreadsheet exports write), LF, or a lone CR. A record whose
/// quoted fields span lines is on the line where it starts. (The csv crate's own line
/// count is one short in CRLF files.) Offsets are asked in increasing order, so the
/// whole file is counted once.
struct Lines<'t> {
    text: &'t [u8],
    at: usize,
    line: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Lines<'t> {
        Lines {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    /// The line on which the record starting at byte `offset` stands.
    fn of(&mut self, offset: u64) -> usize {
        let all = self.text;
        let mut end = usize::try_from(offset).map_or(all.len(), |o| o.min(all.len()));
        // The csv crate may place a record after the CR of a CRLF, before its LF; no
        // record starts with a line end (blank lines are skipped), so step over them.
        while matches!(all.get(end), Some(b'\r' | b'\n')) {
            end += 1;
        }
        if end < self.at {
            // Out of order (not expected): count from the start.
            self.at = 0;
            self.line = 1;
        }
        for (i, &b) in all[self.at..end].iter().enumerate() {
            match b {
                b'\n' => self.line += 1,
                b'\r' if all.get(self.at + i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
        }
        self.at = end;
        self.line
    }
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for csv::Error {
    fn kind_description(&self) -> String {
        match self.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                format!("{len} fields where the header has {expected_len}")
            }
            csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
            _ => self.to_string(),
        }
    }
}
