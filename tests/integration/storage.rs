//! The storage contract, run on every backend: SQLite always, PostgreSQL when
//! `NOTARIUM_TEST_POSTGRES_URL` names a server (CI sets it to the local one; `.ci/test` says
//! plainly when it cannot). Every PostgreSQL test gets its own new database, dropped at the end.
//!
//! The concurrency tests use two stores on one database: for PostgreSQL two pools, as two
//! replicas would have; for SQLite one store (it is one process's database by design).

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use notarium::gun::Gun;
use notarium::storage::{
    self, sha256_hex, Change, ChangeCategory, ChangePage, Changed, NewFile, PoolSettings,
    SharedStore, StorageError, StoredFile, StoredKey,
};

const POSTGRES_VAR: &str = "NOTARIUM_TEST_POSTGRES_URL";

/// One backend under test.
struct Backend {
    name: &'static str,
    url: String,
    /// Kept alive for SQLite; the database to drop for PostgreSQL.
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Backend {
    async fn open(&self) -> SharedStore {
        storage::open(&self.url, PoolSettings::default())
            .await
            .unwrap_or_else(|e| panic!("{} store opens: {e:#}", self.name))
    }

    /// A second handle on the same database, as a second replica would hold.
    async fn second(&self, first: &SharedStore) -> SharedStore {
        if self.pg.is_some() {
            self.open().await
        } else {
            Arc::clone(first)
        }
    }

    async fn drop_database(self) {
        if let Some((admin, name)) = &self.pg {
            let pool = sqlx::PgPool::connect(admin)
                .await
                .expect("admin connection");
            sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&pool)
                .await
                .expect("drop test database");
        }
    }
}

/// `postgres://host/db` with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_end..]
        .find('/')
        .map_or(base.len(), |i| authority_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// SQLite, and PostgreSQL when configured.
async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![Backend {
        name: "sqlite",
        url: format!("sqlite://{}", dir.path().join("store.db").display()),
        _dir: Some(dir),
        pg: None,
    }];
    match std::env::var(POSTGRES_VAR) {
        Ok(admin) if !admin.is_empty() => {
            let pool = sqlx::PgPool::connect(&admin).await.unwrap_or_else(|e| {
                panic!("{POSTGRES_VAR} is set but PostgreSQL does not answer there: {e}")
            });
            let name = format!("notarium_test_{}_{}", std::process::id(), rand_suffix());
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&pool)
                .await
                .expect("create test database");
            out.push(Backend {
                name: "postgres",
                url: with_database(&admin, &name),
                _dir: None,
                pg: Some((admin, name)),
            });
        }
        _ => eprintln!("{POSTGRES_VAR} is not set: this storage test ran on SQLite only"),
    }
    out
}

fn rand_suffix() -> u64 {
    use rand_core::RngCore as _;
    rand_core::OsRng.next_u64() % 1_000_000_000
}

fn gun(name: &str) -> Gun {
    Gun::parse(name).expect("valid GUN")
}

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, second)
        .single()
        .expect("valid time")
}

fn file(role: &str, version: i64) -> NewFile {
    NewFile {
        role: role.to_owned(),
        version,
        data: Bytes::from(format!("{{\"{role}\":{version}}}")),
    }
}

/// A whole first publish: root, targets, snapshot, timestamp.
fn first_publish() -> Vec<NewFile> {
    ["root", "targets", "snapshot", "timestamp"]
        .iter()
        .map(|r| file(r, 1))
        .collect()
}

fn key(gun: &str, role: &str, generation: i64, id: &str) -> StoredKey {
    StoredKey {
        gun: gun.to_owned(),
        role: role.to_owned(),
        generation,
        key_id: id.to_owned(),
        algorithm: "ed25519".to_owned(),
        public: vec![generation as u8; 32],
        sealed_private: vec![7; 60],
        created_at: at(1),
    }
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StorageError>) -> bool {
    matches!(r, Err(StorageError::Conflict))
}

async fn all_changes(store: &SharedStore, gun: Option<&Gun>) -> Vec<Change> {
    store
        .changes(
            gun,
            ChangePage::Forward {
                after: 0,
                limit: 100_000,
            },
        )
        .await
        .expect("changes")
}

#[tokio::test]
async fn files_round_trip_by_version_checksum_and_latest() {
    for b in backends().await {
        let store = b.open().await;
        let g = gun("example.com/app");
        store
            .commit_update(&g, None, &first_publish(), at(2))
            .await
            .expect("first publish");
        store
            .commit_update(
                &g,
                Some(1),
                &[file("targets", 2), file("timestamp", 2)],
                at(3),
            )
            .await
            .expect("second publish");
        let v1 = store
            .file_by_version(&g, "targets", 1)
            .await
            .expect("read")
            .expect("targets v1 stored");
        assert_eq!(v1.data, file("targets", 1).data, "{}", b.name);
        assert_eq!(v1.sha256, sha256_hex(&v1.data), "{}", b.name);
        assert_eq!(v1.created_at, at(2), "{}: the time is kept exactly", b.name);
        let latest = store
            .latest_file(&g, "targets")
            .await
            .expect("read")
            .expect("latest");
        assert_eq!(latest.version, 2, "{}", b.name);
        let by_sum = store
            .file_by_checksum(&g, "targets", &v1.sha256)
            .await
            .expect("read")
            .expect("by checksum");
        assert_eq!(by_sum.version, 1, "{}", b.name);
        assert!(
            store
                .file_by_checksum(&g, "root", &v1.sha256)
                .await
                .expect("read")
                .is_none(),
            "{}: a checksum is looked up within its role only",
            b.name
        );
        assert!(
            store
                .file_by_version(&gun("example.com/other"), "targets", 1)
                .await
                .expect("read")
                .is_none(),
            "{}: nor does another GUN see it",
            b.name
        );
        let (ts, targets) = store
            .latest_two(&g, "timestamp", "targets")
            .await
            .expect("read two");
        assert_eq!(
            (
                ts.map(|f| (f.role, f.version)),
                targets.map(|f| (f.role, f.version))
            ),
            (Some(("timestamp".into(), 2)), Some(("targets".into(), 2))),
            "{}: the newest of each, each in its place",
            b.name
        );
        let (none, root) = store
            .latest_two(&g, "targets/missing", "root")
            .await
            .expect("read two");
        assert!(none.is_none(), "{}", b.name);
        assert_eq!(root.map(|f| f.version), Some(1), "{}", b.name);
        // The heads are the newest files' own, without their bytes.
        let (ts_file, snap_file) = store
            .latest_two(&g, "timestamp", "snapshot")
            .await
            .expect("read two");
        let (ts_head, snap_head) = store
            .latest_two_heads(&g, "timestamp", "snapshot")
            .await
            .expect("read two heads");
        for (file, head) in [(ts_file, ts_head), (snap_file, snap_head)] {
            let (file, head) = (file.expect("stored"), head.expect("a head"));
            assert_eq!(
                (&head.role, head.version, &head.sha256, head.created_at),
                (&file.role, file.version, &file.sha256, file.created_at),
                "{}",
                b.name
            );
            let rebuilt = head.with_data(file.data.clone());
            assert_eq!(
                (rebuilt.sha256, rebuilt.data),
                (file.sha256, file.data),
                "{}",
                b.name
            );
        }
        let (none, root) = store
            .latest_two_heads(&g, "targets/missing", "root")
            .await
            .expect("read two heads");
        assert!(none.is_none(), "{}", b.name);
        assert_eq!(root.map(|h| h.version), Some(1), "{}", b.name);
        for name in ["example.com/b", "example.com/c"] {
            store
                .commit_update(&gun(name), None, &first_publish(), at(4))
                .await
                .expect("publish");
        }
        assert_eq!(
            store.guns_after("", 2).await.expect("page"),
            vec!["example.com/app", "example.com/b"],
            "{}",
            b.name
        );
        assert_eq!(
            store.guns_after("example.com/b", 10).await.expect("page"),
            vec!["example.com/c"],
            "{}",
            b.name
        );
        assert!(!store.is_empty().await.expect("is_empty"), "{}", b.name);
        store.health().await.expect("healthy");
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test]
async fn conflicting_updates_write_nothing() {
    for b in backends().await {
        let store = b.open().await;
        let g = gun("example.com/app");
        store
            .commit_update(&g, None, &first_publish(), at(2))
            .await
            .expect("first publish");
        let before = all_changes(&store, None).await;
        let cases: Vec<(&str, Option<i64>, Vec<NewFile>)> = vec![
            (
                "same version again",
                Some(1),
                vec![file("targets", 1), file("timestamp", 2)],
            ),
            (
                "an older version",
                Some(1),
                vec![file("targets", 0), file("timestamp", 2)],
            ),
            (
                "a stale base",
                Some(0),
                vec![file("targets", 2), file("timestamp", 2)],
            ),
            (
                "a base on a GUN that exists",
                None,
                vec![file("targets", 2), file("timestamp", 2)],
            ),
            (
                "one role twice",
                Some(1),
                vec![file("targets", 2), file("targets", 3)],
            ),
        ];
        for (what, base, files) in cases {
            let r = store.commit_update(&g, base, &files, at(3)).await;
            assert!(is_conflict(&r), "{}: {what}: {r:?}", b.name);
            let latest = store.latest_file(&g, "targets").await.expect("read");
            assert_eq!(latest.map(|f| f.version), Some(1), "{}: {what}", b.name);
        }
        assert_eq!(all_changes(&store, None).await, before, "{}", b.name);
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test]
async fn delete_removes_files_keeps_keys_and_history() {
    for b in backends().await {
        let store = b.open().await;
        let g = gun("example.com/app");
        let neighbour = gun("example.com/appx");
        for name in [&g, &neighbour] {
            store
                .commit_update(name, None, &first_publish(), at(2))
                .await
                .expect("publish");
        }
        store
            .insert_key(&key(g.as_str(), "timestamp", 0, "k0"))
            .await
            .expect("key");
        assert!(
            store.delete_gun(&g, at(4)).await.expect("delete"),
            "{}",
            b.name
        );
        assert!(
            !store.delete_gun(&g, at(5)).await.expect("delete again"),
            "{}: nothing left to delete",
            b.name
        );
        assert!(store.latest_file(&g, "root").await.expect("read").is_none());
        assert!(
            store
                .latest_file(&neighbour, "root")
                .await
                .expect("read")
                .is_some(),
            "{}: a GUN sharing the prefix is untouched",
            b.name
        );
        assert_eq!(store.keys(&g, "timestamp").await.expect("keys").len(), 1);
        let changes = all_changes(&store, Some(&g)).await;
        let kinds: Vec<_> = changes.iter().map(|c| (c.category, c.version)).collect();
        assert_eq!(
            kinds,
            vec![(ChangeCategory::Update, 1), (ChangeCategory::Deletion, 0)],
            "{}: one update, one deletion; the second delete records nothing",
            b.name
        );
        store
            .commit_update(&g, None, &first_publish(), at(6))
            .await
            .expect("the GUN is new again");
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test]
async fn changefeed_pages_both_ways() {
    for b in backends().await {
        let store = b.open().await;
        let a = gun("example.com/a");
        let c = gun("example.com/c");
        store
            .commit_update(&a, None, &first_publish(), at(1))
            .await
            .expect("a1");
        store
            .commit_update(&c, None, &first_publish(), at(2))
            .await
            .expect("c1");
        for v in 2..=5 {
            store
                .commit_update(&a, Some(v - 1), &[file("timestamp", v)], at(2 + v as u32))
                .await
                .expect("a timestamp");
        }
        let all = all_changes(&store, None).await;
        let ids: Vec<i64> = all.iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            (1..=6).collect::<Vec<_>>(),
            "{}: gap-free from 1",
            b.name
        );
        assert_eq!(all[1].gun, "example.com/c");
        assert_eq!(all[5].sha256, sha256_hex(&file("timestamp", 5).data));
        let page = |p| {
            let store = Arc::clone(&store);
            let a = a.clone();
            async move { store.changes(Some(&a), p).await.expect("page") }
        };
        let fwd = page(ChangePage::Forward { after: 2, limit: 2 }).await;
        assert_eq!(
            fwd.iter().map(|c| c.version).collect::<Vec<_>>(),
            vec![2, 3]
        );
        let back = page(ChangePage::Backward {
            before: None,
            limit: 2,
        })
        .await;
        assert_eq!(
            back.iter().map(|c| c.version).collect::<Vec<_>>(),
            vec![4, 5],
            "{}: the newest, oldest first",
            b.name
        );
        let back = page(ChangePage::Backward {
            before: Some(4),
            limit: 10,
        })
        .await;
        assert_eq!(back.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 3]);
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test]
async fn keys_take_one_generation_each() {
    for b in backends().await {
        let store = b.open().await;
        let g = gun("example.com/app");
        let ids = |keys: Vec<StoredKey>| keys.into_iter().map(|k| k.key_id).collect::<Vec<_>>();
        // Read before and after each write: a store that keeps keys in memory must not serve
        // the list from before a write.
        assert!(store.keys(&g, "timestamp").await.expect("none").is_empty());
        store
            .insert_key(&key(g.as_str(), "timestamp", 0, "k0"))
            .await
            .expect("k0");
        assert_eq!(ids(store.keys(&g, "timestamp").await.expect("k0")), ["k0"]);
        let r = store
            .insert_key(&key(g.as_str(), "timestamp", 0, "other"))
            .await;
        assert!(is_conflict(&r), "{}: {r:?}", b.name);
        assert_eq!(ids(store.keys(&g, "timestamp").await.expect("k0")), ["k0"]);
        store
            .insert_key(&key(g.as_str(), "timestamp", 1, "k1"))
            .await
            .expect("k1");
        store
            .insert_key(&key(g.as_str(), "snapshot", 0, "s0"))
            .await
            .expect("s0");
        let ids: Vec<String> = store
            .keys(&g, "timestamp")
            .await
            .expect("keys")
            .into_iter()
            .map(|k| k.key_id)
            .collect();
        assert_eq!(ids, vec!["k0", "k1"], "{}", b.name);
        let k = &store.keys(&g, "timestamp").await.expect("keys")[1];
        assert_eq!(k.public, vec![1u8; 32]);
        assert_eq!(k.created_at, at(1));
        let mut all = store.all_keys().await.expect("all keys");
        assert_eq!(all.len(), 3, "{}", b.name);
        for k in &mut all {
            k.sealed_private = vec![42; 61];
        }
        let mut with_stranger = all.clone();
        with_stranger.push(key(g.as_str(), "timestamp", 9, "nobody"));
        let r = store.reseal_keys(&with_stranger).await;
        assert!(is_conflict(&r), "{}: {r:?}", b.name);
        assert!(
            store
                .all_keys()
                .await
                .expect("keys")
                .iter()
                .all(|k| k.sealed_private == vec![7; 60]),
            "{}: all or nothing",
            b.name
        );
        store.reseal_keys(&all).await.expect("reseal");
        assert!(
            store
                .all_keys()
                .await
                .expect("keys")
                .iter()
                .all(|k| k.sealed_private == vec![42; 61]),
            "{}",
            b.name
        );
        assert!(
            store
                .keys(&g, "timestamp")
                .await
                .expect("keys")
                .iter()
                .all(|k| k.sealed_private == vec![42; 61]),
            "{}: resealed keys are read back resealed",
            b.name
        );
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test]
async fn import_keeps_history_ids_and_times() {
    for b in backends().await {
        let store = b.open().await;
        assert!(store.is_empty().await.expect("is_empty"), "{}", b.name);
        let g = gun("example.com/app");
        let files: Vec<StoredFile> = (1..=3)
            .flat_map(|v| {
                ["targets", "timestamp"].map(|role| {
                    let data = file(role, v).data;
                    StoredFile {
                        role: role.to_owned(),
                        version: v,
                        sha256: sha256_hex(&data),
                        data,
                        created_at: at(v as u32),
                    }
                })
            })
            .collect();
        store
            .import_gun(&g, &files, &[key(g.as_str(), "timestamp", 0, "k0")])
            .await
            .expect("import");
        let again = store.import_gun(&g, &files[..1], &[]).await;
        assert!(is_conflict(&again), "{}: a GUN is imported once", b.name);
        let changes: Vec<Change> = [(7, 1), (9, 2), (12, 3)]
            .iter()
            .map(|&(id, v)| Change {
                id,
                created_at: at(v as u32),
                gun: g.as_str().to_owned(),
                version: v,
                sha256: sha256_hex(&file("timestamp", v).data),
                category: ChangeCategory::Update,
            })
            .collect();
        store
            .import_changes(&changes)
            .await
            .expect("import changes");
        assert_eq!(all_changes(&store, Some(&g)).await, changes, "{}", b.name);
        // Writing goes on after the imported history: the next record follows the last ID.
        store
            .commit_update(&g, Some(3), &[file("timestamp", 4)], at(20))
            .await
            .expect("publish after import");
        let last = all_changes(&store, None).await.pop().expect("a record");
        assert_eq!((last.id, last.version), (13, 4), "{}", b.name);
        let t2 = store
            .file_by_version(&g, "targets", 2)
            .await
            .expect("read")
            .expect("v2");
        assert_eq!(t2.created_at, at(2), "{}", b.name);
        drop(store);
        b.drop_database().await;
    }
}

/// A file as `notarium mirror` reads it from a source: its own version, bytes and time. The
/// bytes end in a newline, a NUL and a byte that is not UTF-8, so that only a store that keeps
/// them exactly reads them back the same; `tag` tells two contents of one version apart.
fn copied(role: &str, version: i64, tag: &str, second: u32) -> StoredFile {
    let mut data = format!("{{\"{role}\":{version},\"tag\":\"{tag}\"}}\n").into_bytes();
    data.extend_from_slice(&[0x00, 0xff]);
    let data = Bytes::from(data);
    StoredFile {
        role: role.to_owned(),
        version,
        sha256: sha256_hex(&data),
        data,
        created_at: at(second),
    }
}

/// One pass of a source's history: every role at versions `1..=last`.
fn copied_history(last: i64) -> Vec<StoredFile> {
    (1..=last)
        .flat_map(|v| {
            [
                "root",
                "targets",
                "targets/releases",
                "snapshot",
                "timestamp",
            ]
            .map(|role| copied(role, v, "source", v as u32))
        })
        .collect()
}

fn roles(names: &[&str]) -> Vec<String> {
    names.iter().map(|r| (*r).to_owned()).collect()
}

/// What a reader sees of the GUN: every role's stored versions, in order, with bytes and times.
async fn stored_state(store: &SharedStore, g: &Gun) -> Vec<(String, i64, Bytes, String, i64)> {
    let mut out = Vec::new();
    for role in [
        "root",
        "targets",
        "targets/releases",
        "snapshot",
        "timestamp",
    ] {
        let Some(latest) = store.latest_file(g, role).await.expect("read") else {
            continue;
        };
        for v in 0..=latest.version {
            if let Some(f) = store.file_by_version(g, role, v).await.expect("read") {
                out.push((
                    f.role,
                    f.version,
                    f.data,
                    f.sha256,
                    f.created_at.timestamp(),
                ));
            }
        }
    }
    out
}

const SOURCE: &str = "https://notary.example.net";

#[tokio::test]
async fn mirrored_files_read_back_as_published_ones() {
    for b in backends().await {
        let store = b.open().await;
        let native = gun("example.com/native");
        store
            .commit_update(&native, None, &first_publish(), at(1))
            .await
            .expect("native publish");
        let g = gun("example.com/mirrored");
        let files = copied_history(2);
        let new = store
            .store_mirrored(
                &g,
                SOURCE,
                &roles(&["snapshot", "timestamp"]),
                &files,
                at(30),
            )
            .await
            .expect("mirror");
        assert_eq!(new, files.len(), "{}: every file is new", b.name);
        for f in &files {
            let by_version = store
                .file_by_version(&g, &f.role, f.version)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("{}: {} v{} stored", b.name, f.role, f.version));
            assert_eq!(
                (&by_version.data, &by_version.sha256, by_version.created_at),
                (&f.data, &f.sha256, f.created_at),
                "{}: {} v{} byte for byte, with the source's time",
                b.name,
                f.role,
                f.version
            );
            let by_sum = store
                .file_by_checksum(&g, &f.role, &f.sha256)
                .await
                .expect("read")
                .expect("by checksum");
            assert_eq!(by_sum.version, f.version, "{}: {}", b.name, f.role);
            let latest = store
                .latest_file(&g, &f.role)
                .await
                .expect("read")
                .expect("latest");
            assert_eq!(latest.version, 2, "{}: {}", b.name, f.role);
        }
        assert_eq!(
            store.guns_after("", 10).await.expect("page"),
            vec![g.as_str(), native.as_str()],
            "{}: listed with the native GUNs, as background renewal walks them",
            b.name
        );
        let (ts, snapshot) = store
            .latest_two(&g, "timestamp", "snapshot")
            .await
            .expect("read two");
        assert_eq!(
            (ts.map(|f| f.version), snapshot.map(|f| f.data)),
            (Some(2), Some(copied("snapshot", 2, "source", 2).data)),
            "{}",
            b.name
        );

        let record = storage::Mirror {
            gun: g.as_str().to_owned(),
            source: SOURCE.to_owned(),
            server_roles: roles(&["snapshot", "timestamp"]),
            created_at: at(30),
        };
        assert_eq!(
            store.mirror(&g).await.expect("mirror"),
            Some(record.clone()),
            "{}",
            b.name
        );
        assert_eq!(
            store.mirror(&native).await.expect("mirror"),
            None,
            "{}",
            b.name
        );
        assert_eq!(
            store
                .mirror(&gun("example.com/unknown"))
                .await
                .expect("mirror"),
            None,
            "{}",
            b.name
        );
        assert_eq!(
            store.mirrors().await.expect("mirrors"),
            vec![record],
            "{}",
            b.name
        );

        // Each copied timestamp is one `update`, recorded at the time of the copy.
        let feed: Vec<(i64, String, ChangeCategory, DateTime<Utc>)> = all_changes(&store, Some(&g))
            .await
            .into_iter()
            .map(|c| (c.version, c.sha256, c.category, c.created_at))
            .collect();
        let expected: Vec<_> = (1..=2)
            .map(|v| {
                let ts = copied("timestamp", v, "source", v as u32);
                (v, ts.sha256, ChangeCategory::Update, at(30))
            })
            .collect();
        assert_eq!(feed, expected, "{}", b.name);
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test]
async fn a_later_mirror_pass_adds_versions_and_keeps_history() {
    for b in backends().await {
        let store = b.open().await;
        let g = gun("example.com/mirrored");
        let first = copied_history(1);
        store
            .store_mirrored(
                &g,
                SOURCE,
                &roles(&["snapshot", "timestamp"]),
                &first,
                at(30),
            )
            .await
            .expect("first pass");
        let before = stored_state(&store, &g).await;
        // The source has moved on (and moved address), and the owner took the snapshot key.
        let moved = "https://notary.example.org";
        let second = copied_history(3);
        let new = store
            .store_mirrored(&g, moved, &roles(&["timestamp"]), &second, at(40))
            .await
            .expect("second pass");
        assert_eq!(
            new,
            second.len() - first.len(),
            "{}: only versions 2 and 3 are new",
            b.name
        );
        let after = stored_state(&store, &g).await;
        for kept in &before {
            assert!(
                after.contains(kept),
                "{}: {} v{} kept",
                b.name,
                kept.0,
                kept.1
            );
        }
        assert_eq!(after.len(), second.len(), "{}", b.name);
        assert_eq!(
            store
                .latest_file(&g, "targets")
                .await
                .expect("read")
                .map(|f| f.version),
            Some(3),
            "{}",
            b.name
        );
        assert_eq!(
            store.mirror(&g).await.expect("mirror"),
            Some(storage::Mirror {
                gun: g.as_str().to_owned(),
                source: moved.to_owned(),
                server_roles: roles(&["timestamp"]),
                created_at: at(30),
            }),
            "{}: the source and roles are the newest pass's, the time the first's",
            b.name
        );
        let feed = |changes: Vec<Change>| {
            changes
                .into_iter()
                .map(|c| (c.version, c.created_at))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            feed(all_changes(&store, Some(&g)).await),
            vec![(1, at(30)), (2, at(40)), (3, at(40))],
            "{}: a timestamp already stored is not recorded again",
            b.name
        );
        let again = store
            .store_mirrored(&g, moved, &roles(&["timestamp"]), &second, at(50))
            .await
            .expect("same pass again");
        assert_eq!(again, 0, "{}: nothing new", b.name);
        assert_eq!(stored_state(&store, &g).await, after, "{}", b.name);
        assert_eq!(all_changes(&store, Some(&g)).await.len(), 3, "{}", b.name);
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test]
async fn a_refused_mirror_pass_writes_nothing() {
    for b in backends().await {
        let store = b.open().await;
        let g = gun("example.com/mirrored");
        store
            .store_mirrored(
                &g,
                SOURCE,
                &roles(&["snapshot", "timestamp"]),
                &copied_history(1),
                at(30),
            )
            .await
            .expect("first pass");
        let (files, feed, record) = (
            stored_state(&store, &g).await,
            all_changes(&store, None).await,
            store.mirror(&g).await.expect("mirror"),
        );
        // The source rewrote targets v1. New files come before it in the pass, a timestamp among
        // them (which appends to the changefeed), and after it: none may stay.
        let rewritten = vec![
            copied("targets", 2, "source", 2),
            copied("timestamp", 2, "source", 2),
            copied("targets", 1, "rewritten", 1),
            copied("snapshot", 2, "source", 2),
        ];
        let r = store
            .store_mirrored(
                &g,
                "https://elsewhere.example",
                &roles(&["timestamp"]),
                &rewritten,
                at(40),
            )
            .await;
        assert!(is_conflict(&r), "{}: {r:?}", b.name);
        assert_eq!(stored_state(&store, &g).await, files, "{}: no file", b.name);
        assert_eq!(
            all_changes(&store, None).await,
            feed,
            "{}: no change",
            b.name
        );
        assert_eq!(
            store.mirror(&g).await.expect("mirror"),
            record,
            "{}: same record",
            b.name
        );

        // The same within a first pass: one version twice with different bytes.
        let fresh = gun("example.com/fresh");
        let twice = vec![
            copied("root", 1, "source", 1),
            copied("timestamp", 1, "source", 1),
            copied("root", 1, "other", 1),
        ];
        let r = store
            .store_mirrored(&fresh, SOURCE, &roles(&["timestamp"]), &twice, at(40))
            .await;
        assert!(is_conflict(&r), "{}: {r:?}", b.name);
        assert!(stored_state(&store, &fresh).await.is_empty(), "{}", b.name);
        assert_eq!(
            store.mirror(&fresh).await.expect("mirror"),
            None,
            "{}",
            b.name
        );
        assert_eq!(all_changes(&store, None).await, feed, "{}", b.name);

        // A native repository is never overwritten by a mirror, not even with new versions.
        let native = gun("example.com/native");
        store
            .commit_update(&native, None, &first_publish(), at(1))
            .await
            .expect("native publish");
        let (native_files, feed) = (
            stored_state(&store, &native).await,
            all_changes(&store, None).await,
        );
        let newer = vec![
            copied("targets", 2, "source", 2),
            copied("timestamp", 2, "source", 2),
        ];
        let r = store
            .store_mirrored(&native, SOURCE, &roles(&["timestamp"]), &newer, at(40))
            .await;
        assert!(is_conflict(&r), "{}: {r:?}", b.name);
        assert_eq!(
            stored_state(&store, &native).await,
            native_files,
            "{}",
            b.name
        );
        assert_eq!(
            store.mirror(&native).await.expect("mirror"),
            None,
            "{}",
            b.name
        );
        assert_eq!(all_changes(&store, None).await, feed, "{}", b.name);
        assert_eq!(
            store.mirrors().await.expect("mirrors").len(),
            1,
            "{}",
            b.name
        );
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test]
async fn a_mirror_with_no_role_left_is_native() {
    for b in backends().await {
        let store = b.open().await;
        let g = gun("example.com/mirrored");
        let other = gun("example.com/other");
        for name in [&g, &other] {
            store
                .store_mirrored(
                    name,
                    SOURCE,
                    &roles(&["snapshot", "timestamp"]),
                    &copied_history(1),
                    at(30),
                )
                .await
                .expect("mirror");
        }
        let (files, feed) = (
            stored_state(&store, &g).await,
            all_changes(&store, None).await,
        );
        store
            .set_mirror_roles(&g, &roles(&["timestamp"]))
            .await
            .expect("one role moved");
        let record = store
            .mirror(&g)
            .await
            .expect("mirror")
            .expect("still mirrored");
        assert_eq!(
            (
                record.source.as_str(),
                record.server_roles,
                record.created_at
            ),
            (SOURCE, roles(&["timestamp"]), at(30)),
            "{}",
            b.name
        );
        store
            .set_mirror_roles(&g, &[])
            .await
            .expect("the last role moved");
        assert_eq!(store.mirror(&g).await.expect("mirror"), None, "{}", b.name);
        let left: Vec<String> = store
            .mirrors()
            .await
            .expect("mirrors")
            .into_iter()
            .map(|m| m.gun)
            .collect();
        assert_eq!(left, vec![other.as_str().to_owned()], "{}", b.name);
        assert_eq!(
            store
                .mirror(&other)
                .await
                .expect("mirror")
                .map(|m| m.server_roles),
            Some(roles(&["snapshot", "timestamp"])),
            "{}: the other mirror is untouched",
            b.name
        );
        assert_eq!(
            stored_state(&store, &g).await,
            files,
            "{}: the files stay",
            b.name
        );
        assert_eq!(
            all_changes(&store, None).await,
            feed,
            "{}: nothing recorded",
            b.name
        );

        // Native now: a mirror pass is refused like on any native repository, even one that
        // brings nothing new, and publishing goes on from the copied history.
        let r = store
            .store_mirrored(
                &g,
                SOURCE,
                &roles(&["timestamp"]),
                &copied_history(1),
                at(40),
            )
            .await;
        assert!(is_conflict(&r), "{}: {r:?}", b.name);
        assert_eq!(store.mirror(&g).await.expect("mirror"), None, "{}", b.name);
        store
            .commit_update(
                &g,
                Some(1),
                &[file("targets", 2), file("timestamp", 2)],
                at(41),
            )
            .await
            .expect("a native publish");
        // Setting roles of a repository that is not mirrored does not make it one.
        store
            .set_mirror_roles(&g, &roles(&["timestamp"]))
            .await
            .expect("no record to set");
        assert_eq!(store.mirror(&g).await.expect("mirror"), None, "{}", b.name);
        drop(store);
        b.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_through_two_handles() {
    for b in backends().await {
        let one = b.open().await;
        let two = b.second(&one).await;
        let g = gun("example.com/race");
        one.commit_update(&g, None, &first_publish(), at(1))
            .await
            .expect("first");

        // 20 updates built on the same base, half through each handle: exactly one lands.
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = Arc::clone(if i % 2 == 0 { &one } else { &two });
                let (g, barrier) = (g.clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    let mut files = vec![file("targets", 2), file("timestamp", 2)];
                    files[0].data = Bytes::from(format!("{{\"writer\":{i}}}"));
                    store.commit_update(&g, Some(1), &files, at(2)).await
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(()) => won += 1,
                Err(StorageError::Conflict) => {}
                Err(e) => panic!("{}: a racing update failed otherwise: {e}", b.name),
            }
        }
        assert_eq!(won, 1, "{}: exactly one of 20 racing updates lands", b.name);
        let ts: Vec<_> = all_changes(&one, Some(&g))
            .await
            .iter()
            .map(|c| c.version)
            .collect();
        assert_eq!(ts, vec![1, 2], "{}: one timestamp per version", b.name);

        // 10 creators of generation 0 of one key: one key.
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = Arc::clone(if i % 2 == 0 { &one } else { &two });
                tokio::spawn(async move {
                    store
                        .insert_key(&key("example.com/race", "snapshot", 0, &format!("k{i}")))
                        .await
                })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            if t.await.expect("task").is_ok() {
                created += 1;
            }
        }
        assert_eq!(created, 1, "{}", b.name);
        assert_eq!(two.keys(&g, "snapshot").await.expect("keys").len(), 1);
        drop((one, two));
        b.drop_database().await;
    }
}

/// Many GUNs publishing at once through two handles while a reader follows the changefeed by
/// `change_id`, as a registry's indexer does: the reader must end up with every record, in
/// order, without ever having skipped one that committed late.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changefeed_stays_ordered_and_gap_free_under_concurrent_writers() {
    const GUNS: usize = 16;
    const VERSIONS: i64 = 6;
    for b in backends().await {
        let one = b.open().await;
        let two = b.second(&one).await;
        let writers: Vec<_> = (0..GUNS)
            .map(|i| {
                let store = Arc::clone(if i % 2 == 0 { &one } else { &two });
                tokio::spawn(async move {
                    let g = gun(&format!("example.com/feed/{i}"));
                    store
                        .commit_update(&g, None, &first_publish(), at(1))
                        .await?;
                    for v in 2..=VERSIONS {
                        store
                            .commit_update(&g, Some(v - 1), &[file("timestamp", v)], at(2))
                            .await?;
                    }
                    Ok::<_, StorageError>(())
                })
            })
            .collect();
        let reader = {
            let store = Arc::clone(&two);
            tokio::spawn(async move {
                let mut seen: Vec<i64> = Vec::new();
                let total = GUNS as i64 * VERSIONS;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while (seen.len() as i64) < total && std::time::Instant::now() < deadline {
                    let after = seen.last().copied().unwrap_or(0);
                    let page = store
                        .changes(None, ChangePage::Forward { after, limit: 7 })
                        .await
                        .expect("page");
                    seen.extend(page.iter().map(|c| c.id));
                    tokio::task::yield_now().await;
                }
                seen
            })
        };
        for w in writers {
            w.await
                .expect("task")
                .unwrap_or_else(|e| panic!("{}: writer: {e}", b.name));
        }
        let seen = reader.await.expect("reader");
        let total = GUNS as i64 * VERSIONS;
        assert_eq!(
            seen,
            (1..=total).collect::<Vec<_>>(),
            "{}: a follower saw every record once, in order",
            b.name
        );
        let per_gun: BTreeSet<(String, i64)> = all_changes(&one, None)
            .await
            .into_iter()
            .map(|c| (c.gun, c.version))
            .collect();
        assert_eq!(
            per_gun.len(),
            total as usize,
            "{}: no duplicate versions",
            b.name
        );
        drop((one, two));
        b.drop_database().await;
    }
}

/// A write through one replica reaches the other's change notices (its cache invalidation).
#[tokio::test]
async fn postgres_replicas_hear_each_others_writes() {
    for b in backends().await {
        if b.pg.is_none() {
            continue;
        }
        let one = b.open().await;
        let two = b.open().await;
        let mut notices = two.changes_elsewhere().expect("PostgreSQL sends notices");
        let g = gun("example.com/notice");
        one.commit_update(&g, None, &first_publish(), at(1))
            .await
            .expect("publish");
        let notice = tokio::time::timeout(std::time::Duration::from_secs(10), notices.recv())
            .await
            .expect("a notice within 10 s")
            .expect("notice");
        assert_eq!(notice, Changed::Gun(g.as_str().to_owned()));
        one.delete_gun(&g, at(2)).await.expect("delete");
        let notice = tokio::time::timeout(std::time::Duration::from_secs(10), notices.recv())
            .await
            .expect("a notice within 10 s")
            .expect("notice");
        assert_eq!(notice, Changed::Gun(g.as_str().to_owned()));
        drop((one, two));
        b.drop_database().await;
    }
}

/// Replicas starting together migrate once; a database newer than the binary is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_run_once_and_refuse_a_newer_schema() {
    for b in backends().await {
        if b.pg.is_some() {
            let (x, y) = tokio::join!(b.open(), b.open());
            drop((x, y));
        }
        let store = b.open().await;
        drop(store);
        // Mark the schema as coming from a newer binary.
        if let Some((_, name)) = &b.pg {
            let admin = b.pg.as_ref().map(|(a, _)| a.clone()).expect("admin");
            let pool = sqlx::PgPool::connect(&with_database(&admin, name))
                .await
                .expect("pool");
            sqlx::query("INSERT INTO notarium_migrations (version, name) VALUES (999, 'future')")
                .execute(&pool)
                .await
                .expect("mark");
            pool.close().await;
        } else {
            let path = b.url.trim_start_matches("sqlite://");
            rusqlite::Connection::open(path)
                .expect("open")
                .execute(
                    "INSERT INTO notarium_migrations (version, name) VALUES (999, 'future')",
                    [],
                )
                .expect("mark");
        }
        let err = storage::open(&b.url, PoolSettings::default())
            .await
            .expect_err("a newer schema is refused");
        assert!(
            format!("{err:#}").contains("newer than this binary"),
            "{}: {err:#}",
            b.name
        );
        b.drop_database().await;
    }
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5432/test", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/test?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
