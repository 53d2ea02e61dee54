//! Staff accounts: one-time passwords that must be changed, Argon2id
//! hashes, sessions that expire, the token every form carries, and sign-in
//! attempts limited per account and per address.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use kalamu_core::store::now_millis;
use serde::Serialize;

use crate::error::{HubError, Result};
use crate::storage::{StaffAccount, StaffSession, Storage};

/// How long a session lasts: a working day.
pub const SESSION_MS: i64 = 12 * 60 * 60 * 1000;
/// The window failed sign-ins are counted in.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed sign-ins for one account from one address in a window before they wait.
pub const ACCOUNT_FAILURES: u32 = 5;
/// Failed sign-ins for one account from anywhere before it waits: higher,
/// so that a guesser elsewhere cannot keep its owner out for long.
pub const ACCOUNT_FAILURES_ANYWHERE: u32 = 50;
/// Failed sign-ins an address makes in a window before it waits.
pub const ADDRESS_FAILURES: u32 = 20;
/// Shortest password a staff member may choose.
pub const MIN_PASSWORD: usize = 10;

/// Letters of one-time passwords: easy to read out and type.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A new account or a reset one, with the password to hand over once.
#[derive(Debug, Clone, Serialize)]
pub struct OneTime {
    /// The account.
    pub account: StaffAccount,
    /// The one-time password, changed at first sign-in.
    pub password: String,
}

/// Hashes a password with Argon2id and a fresh salt.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS has randomness");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a salt");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 hashes").to_string()
}

fn password_holds(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn one_time_password() -> String {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the OS has randomness");
    let letters: Vec<char> = raw.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    letters.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// Random hex of 32 bytes: session cookies and form tokens.
pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the OS has randomness");
    hex::encode(raw)
}

/// What the hub keeps of a session cookie.
pub fn cookie_hash(token: &str) -> String {
    hex::encode(blake3::derive_key("kalamu 2026 staff session", token.as_bytes()))
}

/// Adds a coach of `center` (or, with none, an admin of every center).
pub fn add(store: &dyn Storage, name: &str, center: Option<&str>) -> Result<OneTime> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(HubError::BadRequest(
            "a staff name is 1 to 80 characters, without control characters".into(),
        ));
    }
    let center_id = center.map(|c| store.center(c)).transpose()?.map(|c| c.id);
    let account = StaffAccount {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_owned(),
        center_id,
        must_change: true,
        created_at: now_millis(),
    };
    let password = one_time_password();
    store.add_staff(&account, &hash_password(&password))?;
    Ok(OneTime { account, password })
}

/// Gives an account a new one-time password and ends its sessions.
pub fn reset(store: &dyn Storage, name: &str) -> Result<OneTime> {
    let (mut account, _) = store.staff_login(name)?.ok_or_else(|| HubError::NoSuchStaff(name.to_owned()))?;
    let password = one_time_password();
    store.set_password(&account.id, &hash_password(&password), true)?;
    account.must_change = true;
    Ok(OneTime { account, password })
}

/// A session just begun: the cookie's value and the session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The cookie's value (only its hash is stored).
    pub cookie: String,
    /// The session.
    pub session: StaffSession,
}

/// The keys failed sign-ins are counted under, each with its limit.
fn failure_keys(name: &str, address: &str) -> [(String, u32); 3] {
    let name = name.trim().to_lowercase();
    [
        (format!("pair:{address}:{name}"), ACCOUNT_FAILURES),
        (format!("name:{name}"), ACCOUNT_FAILURES_ANYWHERE),
        (format!("addr:{address}"), ADDRESS_FAILURES),
    ]
}

/// Refuses when any key has failed too often in the window.
fn check_limits(store: &dyn Storage, keys: &[(String, u32)], since: i64) -> Result<()> {
    for (key, limit) in keys {
        if store.signin_failures(std::slice::from_ref(key), since)? >= *limit {
            return Err(HubError::TooManySignIns { minutes: FAILURE_WINDOW_MS / 60_000 });
        }
    }
    Ok(())
}

fn note_failure(store: &dyn Storage, keys: &[(String, u32)], since: i64, now: i64) -> Result<()> {
    let keys: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    store.note_signin_failure(&keys, since, now)
}

/// Signs a staff member in from `address`, unless that account or address
/// failed too often lately. A wrong name and a wrong password look alike.
pub fn sign_in(store: &dyn Storage, name: &str, password: &str, address: &str) -> Result<SignedIn> {
    let now = now_millis();
    let since = now - FAILURE_WINDOW_MS;
    let keys = failure_keys(name, address);
    check_limits(store, &keys, since)?;
    let found = store.staff_login(name.trim())?;
    let holds = match &found {
        Some((_, hash)) => password_holds(password, hash),
        None => {
            // As slow as a real check, so a name's existence does not show in the time taken.
            let _ = password_holds(password, DUMMY_HASH);
            false
        }
    };
    let Some((account, _)) = found.filter(|_| holds) else {
        note_failure(store, &keys, since, now)?;
        return Err(HubError::SignInFailed);
    };
    store.clear_signin_failures(&keys[0].0)?;
    start_session(store, account, now)
}

/// An Argon2id hash of nothing anyone knows, checked when the name is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ";

fn start_session(store: &dyn Storage, account: StaffAccount, now: i64) -> Result<SignedIn> {
    let cookie = random_token();
    let csrf = random_token();
    let expires_at = now + SESSION_MS;
    store.add_session(&cookie_hash(&cookie), &account.id, &csrf, expires_at)?;
    Ok(SignedIn { cookie, session: StaffSession { account, csrf, expires_at } })
}

/// Changes a signed-in member's password (the old one must hold); returns a
/// fresh session, as every other session of the account ends.
pub fn change_password(
    store: &dyn Storage,
    session: &StaffSession,
    old: &str,
    new: &str,
    address: &str,
) -> Result<SignedIn> {
    let (account, hash) = store
        .staff_login(&session.account.name)?
        .ok_or_else(|| HubError::NoSuchStaff(session.account.name.clone()))?;
    // Guesses of the current password count as failed sign-ins: a session
    // left open on a shared browser is no way around the limits.
    let now = now_millis();
    let keys = failure_keys(&account.name, address);
    check_limits(store, &keys, now - FAILURE_WINDOW_MS)?;
    if !password_holds(old, &hash) {
        note_failure(store, &keys, now - FAILURE_WINDOW_MS, now)?;
        return Err(HubError::SignInFailed);
    }
    if new.chars().count() < MIN_PASSWORD || new == old {
        return Err(HubError::WeakPassword(MIN_PASSWORD));
    }
    store.set_password(&account.id, &hash_password(new), false)?;
    start_session(store, StaffAccount { must_change: false, ..account }, now_millis())
}

/// Whether a form's token is its session's, compared in constant time.
pub fn form_token_holds(session: &StaffSession, token: &str) -> bool {
    same_secret(&session.csrf, token)
}

/// Whether two secrets are equal, compared in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_checks_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_holds("correct horse battery", &hash));
        assert!(!password_holds("correct horse batterz", &hash));
        // The stand-in for unknown names is a real hash, so checking it costs as much.
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!password_holds("", DUMMY_HASH));
    }

    #[test]
    fn one_time_passwords_are_long_and_unlike() {
        let (a, b) = (one_time_password(), one_time_password());
        assert_eq!(a.len(), 19);
        assert_ne!(a, b);
    }
}
