//! New ids, secret tokens and public keys, and the hash a token is
//! stored as.

use sha2::{Digest, Sha256};

/// New ids are UUIDv7: unique across nodes, and roughly time-ordered so that
/// indexes on them stay compact.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A secret bearer token: 192 random bits, shown once, stored only as a hash.
pub(crate) fn new_token(prefix: &str) -> (String, String) {
    let bytes: [u8; 24] = rand::random();
    let token = format!("{prefix}_{}", hex(&bytes));
    let hash = token_hash(&token);
    (token, hash)
}

/// A public key (the widget's): 128 random bits, unguessable but not secret.
pub(crate) fn new_public_key(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::random();
    format!("{prefix}_{}", hex(&bytes))
}

/// Tokens are high-entropy, so a fast unsalted hash is enough: it keeps a
/// leaked database from yielding working credentials. Public for the
/// benches, which seed visitors in bulk with tokens they then use.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    // Every agent request hashes its token: a table, not a `format!` a byte.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_hash_is_its_sha256_in_lowercase_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (token, hash) = new_token("tl");
        assert!(token.starts_with("tl_") && token.len() == 3 + 48, "{token}");
        assert_eq!(hash, token_hash(&token));
    }
}
