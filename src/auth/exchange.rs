//! Data exchange accounts (the file door's SFTP logins): an import code and a password shared by
//! the organization, or a public key registered to the account. Password checks cost one argon2
//! verification whether or not the account exists, like every other credential check.

use std::net::IpAddr;

use super::{AuthError, Authenticator, DOOR_SFTP, SCOPE_ADDRESS, SCOPE_EXCHANGE};
use crate::store::ExchangeAccount;

impl Authenticator {
    /// The account an SFTP password login names, if the password is right. The reason for a
    /// refusal is for the log only. Throttled like SOAP logins: per import code and per client
    /// address.
    pub async fn authenticate_exchange(
        &self,
        import_code: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<ExchangeAccount, AuthError> {
        if import_code.is_empty() || password.is_empty() || import_code.len() > 64 {
            return Err(AuthError::Denied(
                "import code or password empty or too long",
            ));
        }
        let address = client.map(|a| a.to_string());
        // Import codes are case-insensitive: so are their failure counts.
        let code = import_code.to_ascii_uppercase();
        let mut subjects = vec![(SCOPE_EXCHANGE, code.as_str())];
        if let Some(a) = &address {
            subjects.push((SCOPE_ADDRESS, a.as_str()));
        }
        let (locked, had_failures) = self.throttle_check(&subjects).await?;
        if locked {
            self.verify_blocking(self.dummy_hash.clone(), password)
                .await?;
            self.refused_locked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(AuthError::Denied("locked out after too many failures"));
        }
        let found = self.db.exchange_account(import_code).await?;
        let known = found.is_some();
        let hash = match &found {
            Some(account) => account.password_hash.clone(),
            None => self.dummy_hash.clone(),
        };
        let ok = self.verify_blocking(hash, password).await?;
        let result = match found {
            Some(account) if ok => Ok(account),
            Some(_) => Err(AuthError::Denied("wrong password")),
            None => Err(AuthError::Denied("unknown import code")),
        };
        match &result {
            Ok(_) if had_failures => self.throttle_succeeded(&subjects).await?,
            Ok(_) => {}
            Err(_) => self.throttle_failed(&subjects, DOOR_SFTP, known).await?,
        }
        result
    }

    /// The account an SFTP public-key login names, if the key is registered to it (russh has
    /// already checked the signature, so the client holds the private key).
    pub async fn authenticate_exchange_key(
        &self,
        import_code: &str,
        public_key: &str,
    ) -> Result<ExchangeAccount, AuthError> {
        let Some(account) = self.db.exchange_account(import_code).await? else {
            return Err(AuthError::Denied("unknown import code"));
        };
        let keys = self.db.exchange_keys(account.organization_id).await?;
        if keys.iter().any(|k| same_key(k, public_key)) {
            Ok(account)
        } else {
            Err(AuthError::Denied(
                "public key not registered to the account",
            ))
        }
    }
}

/// Two OpenSSH public keys are the same key when algorithm and key data agree (comments aside).
fn same_key(a: &str, b: &str) -> bool {
    let parts = |k: &str| {
        let mut it = k.split_whitespace();
        (it.next().map(str::to_string), it.next().map(str::to_string))
    };
    let (pa, pb) = (parts(a), parts(b));
    pa.0.is_some() && pa.1.is_some() && pa == pb
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn keys_compare_without_comments() {
        assert!(same_key("ssh-ed25519 AAAAC3 alice@x", "ssh-ed25519 AAAAC3"));
        assert!(!same_key("ssh-ed25519 AAAAC3", "ssh-ed25519 AAAAC4"));
        assert!(!same_key("ssh-ed25519", "ssh-ed25519"));
    }
}
