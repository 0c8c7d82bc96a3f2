//! Notarium: a trust server for container images, wire-compatible with Notary v1 and Docker
//! Content Trust.
//!
//! Dependencies point one way: `http` → `service` → (`validation` → `tuf`, `signing`,
//! `storage`). `tuf` and `validation` do no I/O.

pub mod admission;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod enforce;
pub mod gun;
pub mod http;
pub mod import;
pub mod mirror;
pub mod policy;
pub mod registry;
pub mod remote;
pub mod report;
pub mod server;
pub mod service;
pub mod signing;
pub mod storage;
pub mod tls;
pub mod tuf;
pub mod validation;

pub use http::{router, AppState};
