//! Metadata parsing of every role type never panics, nor do the structure checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notarium::tuf::metadata::{parse, Root, Snapshot, Targets, Timestamp};
use notarium::tuf::role::RoleName;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = parse::<Root>(data) {
        let _ = root.signed.check_structure();
    }
    if let Ok(targets) = parse::<Targets>(data) {
        let _ = targets.signed.check_structure(&RoleName::targets());
    }
    let _ = parse::<Snapshot>(data);
    let _ = parse::<Timestamp>(data);
});
