//! The contract versions this host loads, one module each (the way Zed's
//! extension host keeps `since_v*` modules): a released version is frozen,
//! and its module stays as long as plugins built against it may exist.
//! `loaded::Exports` has one case per version; a new version adds a module
//! and a case, and changes neither of the old ones.

pub mod v0_1_0;
pub mod v0_2_0;
