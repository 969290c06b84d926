//! Password hashing: argon2id through the `argon2` crate, stored as PHC strings
//! (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). The cost is configuration
//! ([`PasswordCost`]): OWASP's recommended parameters by default, the smallest the
//! algorithm allows in tests. Salts come from the engine's id source, so they are random in
//! production and reproducible in tests.
//!
//! A hash never leaves the catalog: [`PasswordHash`] has no `Display`, its `Debug` prints
//! `<redacted>`, and no system table or error message reads it.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::ids::IdSource;

/// The argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordCost {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 iterations, 1 lane.
    pub const RECOMMENDED: PasswordCost = PasswordCost { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// The cheapest parameters argon2 accepts: for tests only.
    pub const TESTING: PasswordCost = PasswordCost { memory_kib: 8, iterations: 1, parallelism: 1 };

    fn hasher(self) -> Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| EngineError::invalid_parameter(format!("invalid password hashing cost: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// A stored password hash (PHC string). Never displayed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A password in configuration (root's). Never displayed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Hashes `password` with a fresh salt.
pub fn hash_password(password: &str, cost: PasswordCost, ids: &dyn IdSource) -> Result<PasswordHash> {
    if password.is_empty() {
        return Err(EngineError::invalid_parameter("a password may not be empty"));
    }
    let salt = SaltString::encode_b64(&ids.next_u128().to_be_bytes()).map_err(|e| EngineError::internal(format!("password salt: {e}")))?;
    let hash = cost
        .hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| EngineError::internal(format!("password hashing failed: {e}")))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Whether `password` matches `stored`. The parameters are the stored hash's own, so
/// hashes made under an earlier cost keep working.
pub fn verify_password(password: &str, stored: &PasswordHash) -> bool {
    match argon2::password_hash::PasswordHash::new(&stored.0) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SequentialIds;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let ids = SequentialIds::default();
        let hash = hash_password("s3cret", PasswordCost::TESTING, &ids).unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{}", hash.0);
        assert!(verify_password("s3cret", &hash));
        assert!(!verify_password("s3cret ", &hash));
        assert!(!verify_password("", &hash));
        // A fresh salt each time.
        assert_ne!(hash, hash_password("s3cret", PasswordCost::TESTING, &ids).unwrap());
        assert_eq!(format!("{hash:?}"), "<redacted>");
        assert!(hash_password("", PasswordCost::TESTING, &ids).is_err());
    }

    #[test]
    fn garbage_never_verifies() {
        assert!(!verify_password("x", &PasswordHash("not a hash".into())));
    }
}
