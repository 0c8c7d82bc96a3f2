use std::collections::BTreeMap;

use super::*;
use crate::tuf::role::RoleName;

const GUN: &str = "registry.example.com:5000/org/app";

fn data(tag: &str) -> TrustData {
    let file = |role: &str| Bytes::from(format!("{{\"{role}\":\"{tag}\"}}"));
    TrustData {
        roots: vec![file("root1"), file("root2")],
        timestamp: file("timestamp"),
        snapshot: file("snapshot"),
        targets: file("targets"),
        delegations: BTreeMap::from([(RoleName::releases(), file("releases"))]),
    }
}

fn seen(root: &[u8], version: u64) -> Seen {
    Seen {
        root: Some(bytes::Bytes::copy_from_slice(root)),
        versions: BTreeMap::from([("targets".to_owned(), version)]),
        root_signers: vec!["abc".to_owned()],
    }
}

fn hex_of(bytes: &[u8]) -> String {
    hex::encode(digest(&SHA256, bytes))
}

#[test]
fn a_missing_repository_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = TrustCache::new(dir.path().join("trust"));
    let loaded = cache.load(GUN).expect("empty");
    assert_eq!(loaded.seen, Seen::default());
    assert!(loaded.files.is_empty());
}

#[test]
fn store_then_load_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = TrustCache::new(dir.path().join("trust"));
    let data = data("one");
    let seen = seen(&data.roots[1], 2);
    cache.store(GUN, &seen, &data).expect("stored");

    let loaded = cache.load(GUN).expect("loaded");
    assert_eq!(loaded.seen, seen);
    let mut names: Vec<&String> = loaded.files.keys().collect();
    names.sort();
    let mut expected: Vec<String> = [
        &data.roots[1],
        &data.timestamp,
        &data.snapshot,
        &data.targets,
        &data.delegations[&RoleName::releases()],
    ]
    .iter()
    .map(|b| hex_of(b))
    .collect();
    expected.sort();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());
    assert_eq!(loaded.files[&hex_of(&data.targets)], data.targets);

    let repo = dir.path().join("trust/registry.example.com:5000/org/app");
    assert!(
        repo.join("seen.json").is_file(),
        "one directory per GUN segment"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&repo), 0o700);
        assert_eq!(mode(&repo.join("files")), 0o700);
        assert_eq!(mode(&repo.join("seen.json")), 0o600);
        assert_eq!(
            mode(
                &repo
                    .join("files")
                    .join(format!("{}.json", hex_of(&data.targets)))
            ),
            0o600
        );
    }
}

#[test]
fn a_new_read_replaces_the_old_one_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = TrustCache::new(dir.path().to_owned());
    let first = data("one");
    cache
        .store(GUN, &seen(&first.roots[1], 2), &first)
        .expect("first");
    let second = data("two");
    let second_seen = seen(&second.roots[1], 3);
    cache.store(GUN, &second_seen, &second).expect("second");

    let loaded = cache.load(GUN).expect("loaded");
    assert_eq!(loaded.seen, second_seen);
    assert_eq!(
        loaded.files.len(),
        5,
        "only the files of the latest read stay"
    );
    assert!(loaded.files.contains_key(&hex_of(&second.snapshot)));
    assert!(!loaded.files.contains_key(&hex_of(&first.snapshot)));
    let leftovers: Vec<_> = fs::read_dir(dir.path().join(GUN))
        .expect("list")
        .chain(fs::read_dir(dir.path().join(GUN).join("files")).expect("list"))
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files are left behind");
}

#[test]
fn a_damaged_seen_json_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = TrustCache::new(dir.path().to_owned());
    let data = data("one");
    cache
        .store(GUN, &seen(&data.roots[1], 2), &data)
        .expect("stored");
    let path = dir.path().join(GUN).join("seen.json");
    fs::write(&path, b"{\"root\": 12").expect("damage");
    let err = cache
        .load(GUN)
        .expect_err("a damaged seen.json must not read as empty");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn damaged_files_are_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = TrustCache::new(dir.path().to_owned());
    let data = data("one");
    cache
        .store(GUN, &seen(&data.roots[1], 2), &data)
        .expect("stored");
    let path = dir
        .path()
        .join(GUN)
        .join("files")
        .join(format!("{}.json", hex_of(&data.targets)));
    fs::write(&path, b"tampered").expect("tamper");
    let loaded = cache.load(GUN).expect("loaded");
    assert_eq!(loaded.files.len(), 4);
    assert!(!loaded.files.contains_key(&hex_of(&data.targets)));
}

#[test]
fn names_that_are_not_guns_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = TrustCache::new(dir.path().join("trust"));
    for gun in ["../escape", "a//b", "/abs", "a/./b", "", "a\\b"] {
        assert!(cache.load(gun).is_err(), "{gun:?}");
        assert!(
            cache.store(gun, &Seen::default(), &data("x")).is_err(),
            "{gun:?}"
        );
    }
    assert!(!dir.path().join("escape").exists());
}

#[cfg(unix)]
#[test]
fn a_read_that_saw_nothing_new_rewrites_nothing() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = TrustCache::new(dir.path().join("trust"));
    let data = data("one");
    let seen = seen(&data.roots[1], 2);
    cache.store(GUN, &seen, &data).expect("stored");
    let repo = dir
        .path()
        .join("trust")
        .join("registry.example.com:5000/org/app");
    let inodes = |repo: &std::path::Path| -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = std::fs::read_dir(repo.join("files"))
            .expect("files")
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().expect("meta").ino(),
                )
            })
            .collect();
        out.push((
            "seen.json".to_owned(),
            std::fs::metadata(repo.join("seen.json"))
                .expect("seen")
                .ino(),
        ));
        out.sort();
        out
    };
    let before = inodes(&repo);
    cache.store(GUN, &seen, &data).expect("stored again");
    assert_eq!(inodes(&repo), before, "an unchanged read replaced files");
    // Something new is written.
    cache
        .store(GUN, &self::seen(&data.roots[1], 3), &data)
        .expect("stored a newer version");
    assert_ne!(inodes(&repo), before);
}
