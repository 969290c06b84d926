//! Password hashing: argon2id through the `argon2` crate, stored as PHC strings
//! (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). The cost is configuration
//! ([`PasswordCost`]): OWASP's recommended parameters by default, the smallest the
//! algorithm allows in tests. Salts come from the engine's id source, so they are random in
//! production and reproducible in tests.
//!
//! A hash never leaves the catalog: [`PasswordHash`] has no `Display`, its `Debug` prints
//! `<redacted>`, and no system table or error message reads it.
//!
//! Beside the hash, every password set gets a SCRAM-SHA-256 verifier ([`ScramVerifier`],
//! RFC 5802/7677, in PostgreSQL's text form `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`),
//! which lets a server check a client's proof of the password without ever seeing it (the
//! PostgreSQL wire protocol's default exchange). The verifier holds no password
//! equivalent: a client proof needs the password itself. Passwords are used as their
//! UTF-8 bytes (SASLprep, which PostgreSQL applies, leaves ASCII unchanged).

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64ct::{Base64, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// PostgreSQL's default SCRAM iteration count.
pub const SCRAM_ITERATIONS: u32 = 4096;

/// A SCRAM-SHA-256 verifier in PostgreSQL's text form. Never displayed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScramVerifier(String);

impl std::fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What a server needs to check a SCRAM-SHA-256 exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// `SHA-256(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredentials").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

impl ScramVerifier {
    /// The verifier of `password` with a fresh salt.
    pub fn new(password: &str, ids: &dyn IdSource) -> ScramVerifier {
        ScramVerifier::with_salt(password, &ids.next_u128().to_be_bytes(), SCRAM_ITERATIONS)
    }

    fn with_salt(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
        let stored_key = Sha256::digest(hmac_sha256(&salted, b"Client Key"));
        let server_key = hmac_sha256(&salted, b"Server Key");
        ScramVerifier(format!(
            "SCRAM-SHA-256${iterations}:{}${}:{}",
            Base64::encode_string(salt),
            Base64::encode_string(&stored_key),
            Base64::encode_string(&server_key)
        ))
    }

    /// The verifier's parts (`None`: not a verifier this engine wrote).
    pub fn credentials(&self) -> Option<ScramCredentials> {
        let rest = self.0.strip_prefix("SCRAM-SHA-256$")?;
        let (iterations_and_salt, keys) = rest.split_once('$')?;
        let (iterations, salt) = iterations_and_salt.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        Some(ScramCredentials {
            salt: Base64::decode_vec(salt).ok()?,
            iterations: iterations.parse().ok()?,
            stored_key: Base64::decode_vec(stored_key).ok()?,
            server_key: Base64::decode_vec(server_key).ok()?,
        })
    }
}

impl ScramCredentials {
    /// Credentials no password matches, the same for the same `name` and `secret` every
    /// time: what an unknown user's exchange runs against, so its salt does not change
    /// between attempts and tell that the user does not exist.
    pub fn decoy(name: &str, secret: &[u8]) -> ScramCredentials {
        let derived = hmac_sha256(secret, name.as_bytes());
        ScramCredentials {
            salt: derived[..16].to_vec(),
            iterations: SCRAM_ITERATIONS,
            stored_key: hmac_sha256(secret, &derived),
            server_key: hmac_sha256(&derived, secret),
        }
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

    /// RFC 7677's example: user "user", password "pencil", salt `W22ZaJ0SNY7soEsUEjb6gQ==`,
    /// 4096 iterations.
    #[test]
    fn scram_verifiers_match_rfc_7677() {
        let salt = Base64::decode_vec("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = ScramVerifier::with_salt("pencil", &salt, 4096);
        let credentials = verifier.credentials().unwrap();
        assert_eq!(credentials.salt, salt);
        assert_eq!(credentials.iterations, 4096);
        // The server signature of RFC 7677's exchange, from its ServerKey and AuthMessage.
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = hmac_sha256(&credentials.server_key, auth_message.as_bytes());
        assert_eq!(Base64::encode_string(&signature), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert_eq!(format!("{verifier:?}"), "<redacted>");
        let decoy = ScramCredentials::decoy("nobody", b"secret");
        assert_eq!(decoy, ScramCredentials::decoy("nobody", b"secret"));
        assert_ne!(decoy.salt, ScramCredentials::decoy("somebody", b"secret").salt);
    }

    #[test]
    fn garbage_never_verifies() {
        assert!(!verify_password("x", &PasswordHash("not a hash".into())));
    }
}
