//! Anchored globs over normalised repository names.
