//! Rulesets: `rules/*.toml` files loaded into one [`RuleIndex`].
//!
//! A ruleset has an `id`, a `title` and any of `domains` (the domain and all its
//! subdomains), `exact` (that host only), `patterns` (regexes over the whole normalised
//! host, anchored by the engine) and `cidrs` (IP literals and resolved addresses).

pub mod index;

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

pub use index::{Match, RuleIndex};

use crate::config::{line_of, parse_toml, LoadError};
use crate::host::Host;

/// Index of a ruleset in [`RuleIndex`].
pub type RulesetId = usize;

/// What kind of entry a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Domain,
    Exact,
    Pattern,
    Cidr,
}

/// One entry of a ruleset, as written (normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub ruleset: RulesetId,
    pub kind: RuleKind,
    pub text: String,
}

/// A loaded ruleset.
#[derive(Debug, Clone)]
pub struct Ruleset {
    pub id: String,
    pub title: String,
    pub file: PathBuf,
    pub rules: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesetFile {
    id: Spanned<String>,
    title: String,
    #[serde(default)]
    domains: Vec<Spanned<String>>,
    #[serde(default)]
    exact: Vec<Spanned<String>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
    #[serde(default)]
    cidrs: Vec<Spanned<String>>,
}

/// Loads every `*.toml` in `dir` (sorted by file name) into one index.
pub fn load_dir(dir: &Path) -> Result<RuleIndex, LoadError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| LoadError::new(dir, 1, format!("cannot read rules directory: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut texts = Vec::with_capacity(files.len());
    for file in &files {
        let text =
            std::fs::read_to_string(file).map_err(|e| LoadError::new(file, 1, format!("cannot read ruleset: {e}")))?;
        texts.push((file.clone(), text));
    }
    parse_files(&texts)
}

/// Compiles ruleset texts (file name, contents) into one index.
pub fn parse_files(files: &[(PathBuf, String)]) -> Result<RuleIndex, LoadError> {
    let mut builder = index::Builder::default();
    for (file, text) in files {
        add_file(&mut builder, file, text)?;
    }
    builder.build().map_err(|(ruleset, e)| {
        let file = files.get(ruleset).map(|f| f.0.clone()).unwrap_or_default();
        LoadError::new(&file, 1, e)
    })
}

/// Parses one ruleset file into the builder.
fn add_file(builder: &mut index::Builder, file: &Path, text: &str) -> Result<(), LoadError> {
    let raw: RulesetFile = parse_toml(file, text)?;
    let at = |s: &Spanned<String>, reason: String| LoadError::new(file, line_of(text, s.span().start), reason);
    let id = raw.id.get_ref();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(at(&raw.id, format!("ruleset id {id:?} must be [A-Za-z0-9._-]+")));
    }
    if builder.has_ruleset(id) {
        return Err(at(&raw.id, format!("ruleset id {id:?} is defined twice")));
    }
    let rs = builder.add_ruleset(id, &raw.title, file);
    for d in &raw.domains {
        let host = parse_name(d.get_ref()).map_err(|e| at(d, format!("domain {:?}: {e}", d.get_ref())))?;
        builder.add(rs, RuleKind::Domain, host);
    }
    for d in &raw.exact {
        let host = parse_name(d.get_ref()).map_err(|e| at(d, format!("exact host {:?}: {e}", d.get_ref())))?;
        builder.add(rs, RuleKind::Exact, host);
    }
    for p in &raw.patterns {
        let pattern = p.get_ref();
        if pattern.starts_with('^') || pattern.ends_with('$') {
            return Err(at(
                p,
                format!("pattern {pattern:?}: do not anchor patterns, the engine anchors them"),
            ));
        }
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| at(p, format!("pattern {pattern:?}: {}", first_line(&e.to_string()))))?;
        builder.add(rs, RuleKind::Pattern, pattern.clone());
    }
    for c in &raw.cidrs {
        let text = c.get_ref();
        let net = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| at(c, format!("cidr {text:?} is not an address or network")))?;
        if net.trunc() != net {
            return Err(at(
                c,
                format!("cidr {text:?} has host bits set (did you mean {}?)", net.trunc()),
            ));
        }
        builder.add_cidr(rs, net);
    }
    Ok(())
}

/// A rule host must be a name (IP literals belong in `cidrs`).
fn parse_name(text: &str) -> Result<String, String> {
    let host = Host::parse(text).map_err(|e| e.to_string())?;
    match host.name() {
        Some(name) => Ok(name.to_owned()),
        None => Err("is an address: put it in cidrs".to_owned()),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

#[cfg(test)]
mod tests;
