//! `slagboom test [-c …] [FILES…]`: the policy tests (SPEC §14). Every case is decided
//! with the same pure function as traffic; each passes (`ok NAME`) or is shown beside
//! what it expected; the run ends with `N passed, N failed` and exits 1 on any failure,
//! and 1 with `file:line: reason` for a malformed file.

use std::path::{Path, PathBuf};

use super::Failure;
use crate::policy::cases;
use crate::state::Snapshot;

pub fn test(config: &Path, files: &[PathBuf]) -> Result<(), Failure> {
    let snap = Snapshot::load_without_keys(config).map_err(Failure::input)?;
    let files = if files.is_empty() {
        let dir = &snap.config.tests_dir;
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Failure::input(format!("{}: {e}", dir.display())))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        found.sort();
        found
    } else {
        files.to_vec()
    };
    let mut all = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| Failure::input(format!("{}: {e}", f.display())))?;
        all.extend(cases::load(f, &text, &snap).map_err(Failure::input)?);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for case in &all {
        match case.run(&snap) {
            None => {
                passed += 1;
                println!("ok {}", case.name);
            }
            Some(o) => {
                failed += 1;
                println!("FAILED {} ({})", case.name, case.at_line);
                println!("    expected: {}", o.expected);
                println!("    got:      {}", o.got);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        return Err(Failure::input(format!("{failed} policy tests failed")));
    }
    Ok(())
}
