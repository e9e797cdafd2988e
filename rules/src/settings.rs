//! Settings as the built-in rules read them: what an operator may set for
//! each default plugin, key/value text from the plugin's configuration,
//! read the same way in the plugin and in the server's native fallback.

/// A setting that does not read: its key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSetting {
    pub key: String,
    pub reason: String,
}

pub(crate) fn bad(key: &str, reason: impl Into<String>) -> BadSetting {
    BadSetting {
        key: key.into(),
        reason: reason.into(),
    }
}

pub(crate) fn boolean(key: &str, value: &str) -> Result<bool, BadSetting> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, "takes true or false")),
    }
}

pub(crate) fn number(key: &str, value: &str, range: std::ops::RangeInclusive<usize>) -> Result<usize, BadSetting> {
    value.trim().parse().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        bad(
            key,
            format!("takes a whole number from {} to {}", range.start(), range.end()),
        )
    })
}
