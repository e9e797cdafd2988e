//! The contract versions this host loads, one module each (the way Zed's
//! extension host keeps `since_v*` modules): a released version is frozen,
//! and its module stays as long as plugins built against it may exist.
//! `0.1.0` is the only one so far.

pub mod v0_1_0;
