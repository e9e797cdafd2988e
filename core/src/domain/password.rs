//! Agents' passwords: what is accepted, and how they are stored (argon2id,
//! as a PHC string that carries its own salt and parameters, so stronger
//! parameters later still verify the hashes made today).
//!
//! Hashing and verifying take tens of milliseconds of CPU on purpose; the
//! HTTP layer runs them off the async threads and bounds how many run at once.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::InvalidInput;

/// NIST SP 800-63B asks for at least 8 characters and no composition rules;
/// a help desk account reads customers' data, so we ask for a little more.
pub const MIN_CHARS: usize = 10;
/// Long enough for any passphrase, short enough that hashing stays cheap.
pub const MAX_BYTES: usize = 1024;

/// A password that meets the rules, ready to be hashed.
pub struct Password(String);

impl Password {
    pub fn parse(field: &'static str, value: &str) -> Result<Self, InvalidInput> {
        // Not trimmed: spaces are characters of the password like any other.
        if value.chars().count() < MIN_CHARS {
            return Err(InvalidInput::new(
                field,
                format!("{field} must be at least {MIN_CHARS} characters"),
            ));
        }
        if value.len() > MAX_BYTES {
            return Err(InvalidInput::new(
                field,
                format!("{field} must be at most {MAX_BYTES} bytes"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                field,
                format!("{field} must not contain control characters"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The PHC string to store (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub fn hash(&self) -> String {
        let salt: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
        hasher()
            .hash_password(self.0.as_bytes(), &salt)
            .expect("argon2id hashes any password within MAX_BYTES")
            .to_string()
    }
}

/// Whether `candidate` is the password `stored` was made from. A stored
/// value that is not a PHC string verifies nothing.
pub fn verify(stored: &str, candidate: &str) -> bool {
    if candidate.len() > MAX_BYTES {
        return false;
    }
    PasswordHash::new(stored).is_ok_and(|hash| hasher().verify_password(candidate.as_bytes(), &hash).is_ok())
}

/// Checks `candidate` against a hash nobody's password makes, so a sign-in
/// for an unknown account takes as long as one with a wrong password and
/// does not tell which accounts exist.
pub fn verify_nothing(candidate: &str) {
    static DECOY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| Password(format!("decoy-{}", u128::from_le_bytes(rand::random()))).hash());
    let _ = verify(&DECOY, candidate);
}

/// argon2id with OWASP's first recommended parameters (19 MiB, 2 passes,
/// one lane): about 20–40 ms on a server core.
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = Password::parse("password", "correct horse battery").unwrap().hash();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify(&hash, "correct horse battery"));
        assert!(!verify(&hash, "correct horse batterY"));
        assert!(!verify("not a hash", "correct horse battery"));
        // Salted: the same password never hashes the same way twice.
        assert_ne!(
            hash,
            Password::parse("password", "correct horse battery").unwrap().hash()
        );
    }

    #[test]
    fn short_long_and_control_character_passwords_are_refused() {
        assert!(Password::parse("password", "123456789").is_err());
        assert!(Password::parse("password", "1234567890").is_ok());
        assert!(Password::parse("password", &"x".repeat(MAX_BYTES + 1)).is_err());
        assert!(Password::parse("password", "abcdefghij\n").is_err());
        // Spaces count, at either end too.
        assert!(Password::parse("password", " abcdefghi").is_ok());
    }
}
