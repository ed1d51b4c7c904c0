use std::path::{Path, PathBuf};

use super::{ASSETS, etag, serves};

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// A file added to `web/` but not to `ASSETS` would be missing from the binary: the page
/// would load without it and fail only in a browser.
#[test]
fn every_file_under_web_is_served() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    let mut files = Vec::new();
    files_under(&root, &mut files);
    let served: Vec<&[u8]> = ASSETS.iter().map(|asset| asset.body).collect();
    let mut missing = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if relative == "README.md" {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        if !served.contains(&bytes.as_slice()) {
            missing.push(relative);
        }
    }
    assert!(missing.is_empty(), "files under web/ not listed in web.rs ASSETS: {missing:?}");
}

#[test]
fn asset_paths_are_unique_and_known() {
    for (index, asset) in ASSETS.iter().enumerate() {
        assert!(ASSETS[..index].iter().all(|other| other.path != asset.path), "{} listed twice", asset.path);
        assert!(serves(asset.path));
    }
    assert!(!serves("/nope"));
    assert!(!serves("/assets/"));
}

#[test]
fn etag_depends_on_content_only() {
    assert_eq!(etag(b"abc"), etag(b"abc"));
    assert_ne!(etag(b"abc"), etag(b"abd"));
    assert!(etag(b"").starts_with('"') && etag(b"").ends_with('"'));
}
