//! `izport user …`: the users organizations authenticate as.

use std::io::BufRead;

use anyhow::{bail, Context};
use clap::Subcommand;

use super::check_code;
use crate::auth::{generate_password, hash_password};
use crate::store::Db;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user of an organization; prints a generated password unless --password-stdin
    Add {
        #[arg(long)]
        org: String,
        username: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password; prints a generated one unless --password-stdin
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Refuse all further requests from a user
    Disable { username: String },
    /// Allow a disabled user again
    Enable { username: String },
    /// End a lockout after failed logins: forget the user's failures and lockouts (and, with
    /// --address, those of a client address)
    Unlock {
        username: String,
        /// Also unlock this client address (as the log line "locked out" shows it)
        #[arg(long)]
        address: Option<String>,
    },
}

/// The first line of standard input, without its line end.
pub fn read_stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// A password from stdin (first line) or a newly generated one (then printed).
fn obtain_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((generate_password(), true));
    }
    let password = read_stdin_line()?;
    if password.chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    Ok((password, false))
}

pub async fn run(db: &Db, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            org,
            username,
            password_stdin,
        } => {
            check_code("username", &username)?;
            let (password, generated) = obtain_password(password_stdin)?;
            let hash = hash_password(&password)?;
            db.create_user(&org, &username, &hash).await?;
            println!("user {username} created for organization {org}");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let (password, generated) = obtain_password(password_stdin)?;
            db.set_password(&username, &hash_password(&password)?)
                .await?;
            println!("password of {username} changed");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Disable { username } => {
            db.set_user_status(&username, "disabled").await?;
            println!("user {username} disabled");
        }
        UserCommand::Enable { username } => {
            db.set_user_status(&username, "active").await?;
            println!("user {username} enabled");
        }
        UserCommand::Unlock { username, address } => {
            if db
                .throttle_unlock(crate::auth::SCOPE_USER, &username)
                .await?
            {
                println!("user {username} unlocked");
            } else {
                println!("user {username} had no failed logins on record");
            }
            if let Some(address) = address {
                if db
                    .throttle_unlock(crate::auth::SCOPE_ADDRESS, &address)
                    .await?
                {
                    println!("address {address} unlocked");
                } else {
                    println!("address {address} had no failed logins on record");
                }
            }
        }
    }
    Ok(())
}
