//! Golden-file tests, one way for every crate (a dev-dependency only).
//!
//! A golden test renders what the code does as text and compares it with a checked-in file:
//! the file is the specification, reviewed like code. `UPDATE_EXPECT=1 cargo test …` rewrites
//! the files instead of comparing, and the diff must be reviewed before it is committed.
//!
//! ```
//! # let dir = std::env::temp_dir();
//! # std::fs::write(dir.join("doc.expected.txt"), "42\n").unwrap();
//! tributary_golden::check(&dir.join("doc.expected.txt"), "42\n");
//! ```

use std::path::Path;

/// The variable that switches from comparing to rewriting.
pub const UPDATE_VARIABLE: &str = "UPDATE_EXPECT";

/// Whether this run rewrites golden files instead of comparing them.
pub fn updating() -> bool {
    std::env::var_os(UPDATE_VARIABLE).is_some()
}

/// Compares `actual` with the file at `path`, or writes it there when [`updating`]. A missing
/// file compares as empty, so a new case fails until it is written and reviewed.
///
/// # Panics
///
/// When they differ (the point of a test), or when the file cannot be written while updating.
pub fn check(path: &Path, actual: &str) {
    if updating() {
        if let Err(error) = std::fs::write(path, actual) {
            panic!("cannot write golden file {}: {error}", path.display());
        }
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        panic!(
            "golden file {} differs from what the code produces; rerun with {UPDATE_VARIABLE}=1 and review the diff\n{}",
            path.display(),
            first_difference(&expected, actual)
        );
    }
}

/// The first line where two texts differ, for the failure message.
fn first_difference(expected: &str, actual: &str) -> String {
    let (mut expected_lines, mut actual_lines) = (expected.lines(), actual.lines());
    let mut line = 0;
    loop {
        line += 1;
        match (expected_lines.next(), actual_lines.next()) {
            (None, None) => return "(they differ only in line endings or a final newline)".to_owned(),
            (left, right) if left == right => {}
            (left, right) => {
                return format!(
                    "first difference at line {line}:\n  expected: {}\n  actual:   {}",
                    left.unwrap_or("(end of file)"),
                    right.unwrap_or("(end of text)")
                );
            }
        }
    }
}

/// One `#[test]` per case name, each calling `$check(name)`, and `CASES`, every name (so a
/// test can check that every file in the cases folder has a test).
#[macro_export]
macro_rules! cases {
    ($check:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $check(stringify!($name));
            }
        )*
        const CASES: &[&str] = &[$(stringify!($name)),*];
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_names_its_first_line() {
        assert_eq!(
            first_difference("a\nb\nc\n", "a\nx\nc\n"),
            "first difference at line 2:\n  expected: b\n  actual:   x"
        );
        assert!(first_difference("a\n", "a\nb\n").contains("(end of file)"));
    }

    #[test]
    fn equal_text_passes_and_different_text_fails() {
        let dir = std::env::temp_dir().join(format!("tributary-golden-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("case.expected.txt");
        std::fs::write(&path, "same\n").unwrap();
        check(&path, "same\n");
        if !updating() {
            let failed = std::panic::catch_unwind(|| check(&path, "other\n"));
            assert!(failed.is_err(), "a different text must fail");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
