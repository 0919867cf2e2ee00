//! Tokens: `sk_<id>_<secret>`. The id (12 hex digits) is public: it names the token in
//! lists and the audit log. The secret (32 random bytes, hex) is shown once, at creation;
//! the server keeps only its SHA-256 (enough for a high-entropy secret: nothing to brute
//! force) and compares hashes in constant time. Every request looks the token up again, so
//! a revocation or an expiry counts from the next request.

use sha2::{Digest, Sha256};

use crate::db::Db;
pub use crate::db::{Role, TokenRecord};
use crate::{Error, Result};

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut buf)
        .map_err(|_| Error::Unavailable {
            message: "the system's random generator failed; no token was made".into(),
            hint: None,
        })?;
    Ok(hex::encode(buf))
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Equal without an early exit (the time taken does not say where two values differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Create a token; returns its record and the full token, which is never shown again.
///
/// # Errors
/// An invalid namespace, or the database.
pub fn create(
    db: &Db,
    namespace: &str,
    role: Role,
    expires_in: Option<std::time::Duration>,
    description: &str,
) -> Result<(TokenRecord, String)> {
    crate::namespace::validate(namespace)?;
    let id = random_hex(6)?;
    let secret = random_hex(32)?;
    let now = prisn_api::daemon::now_ms();
    let rec = TokenRecord {
        id: id.clone(),
        namespace: namespace.to_string(),
        role,
        created_ms: now,
        expires_ms: expires_in.map(|d| now + d.as_millis() as i64),
        revoked_ms: None,
        last_used_ms: None,
        description: description.to_string(),
    };
    db.insert_token(&rec, &hash(&secret))?;
    Ok((rec, format!("sk_{id}_{secret}")))
}

/// Why a request is not authenticated: all of them answer 401 with the same words, so a
/// caller cannot tell an unknown id from a wrong secret.
fn unauthorized(why: &str) -> Error {
    Error::Api {
        status: 401,
        message: format!("not authenticated: {why}"),
        hint: Some(
            "the context needs a valid token (`prisn server token create` on the server); it is sent as `Authorization: Bearer sk_…`".into(),
        ),
    }
}

/// The token of an `Authorization` header value, checked against the database (revoked,
/// expired, wrong secret → 401). Records the use.
///
/// # Errors
/// 401 for anything but a valid, live token.
pub fn authenticate(db: &Db, header: Option<&str>) -> Result<TokenRecord> {
    let Some(value) = header else {
        return Err(unauthorized("no Authorization header"));
    };
    let token = value
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthorized("the Authorization header is not `Bearer sk_…`"))?
        .trim();
    let (id, secret) = token
        .strip_prefix("sk_")
        .and_then(|t| t.split_once('_'))
        .ok_or_else(|| unauthorized("the token is not of the form sk_<id>_<secret>"))?;
    let bad = || unauthorized("unknown, revoked or expired token");
    let (rec, stored) = db.token(id)?.ok_or_else(bad)?;
    if !same(hash(secret).as_bytes(), stored.as_bytes()) {
        return Err(bad());
    }
    let now = prisn_api::daemon::now_ms();
    if rec.revoked_ms.is_some() || rec.expires_ms.is_some_and(|e| e <= now) {
        return Err(bad());
    }
    // Its last use is recorded with the request's audit entry (crate::audit).
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_by_hash_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let (rec, token) = create(&db, "prod", Role::Deploy, None, "").unwrap();
        let header = format!("Bearer {token}");
        assert_eq!(authenticate(&db, Some(&header)).unwrap().id, rec.id);
        let wrong = format!("Bearer sk_{}_{}", rec.id, "0".repeat(64));
        assert_eq!(authenticate(&db, Some(&wrong)).unwrap_err().status(), 401);
        assert_eq!(authenticate(&db, None).unwrap_err().status(), 401);
        assert!(db.revoke(&rec.id).unwrap());
        assert_eq!(authenticate(&db, Some(&header)).unwrap_err().status(), 401);
        let secret = token.rsplit('_').next().unwrap();
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let stored = std::fs::read(f.unwrap().path()).unwrap();
            assert!(
                !String::from_utf8_lossy(&stored).contains(secret),
                "the secret is not stored"
            );
        }
    }
}
