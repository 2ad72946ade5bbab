//! An unknown username costs the same time as a known one with a wrong password, so response
//! times do not tell an attacker which usernames exist (the README's guarantee): both verify an
//! argon2id hash, the unknown one against a stand-in.
//!
//! How it stays stable on a small, loaded machine:
//! * a test binary of its own, apart from `tests/it`: cargo runs test binaries one after the
//!   other, so no other test of the suite competes for the CPU while this one measures;
//! * one request at a time, after a warm-up that is not counted;
//! * samples interleaved in pairs, the order alternating (wrong password first, then unknown
//!   user first), so a change of background load falls on both kinds alike;
//! * medians, not means, so a request that waited for the CPU does not move the figure;
//! * enough pairs that the median is settled ([`PAIRS`]); and a round that misses the bound is
//!   measured again, at most [`ROUNDS`] times. A real leak is not a matter of luck: skipping
//!   the verification makes a refusal several times faster, which no round would hide — the
//!   third kind measured here, refused before any verification (empty password), shows that
//!   this measurement sees such a difference.

use std::time::{Duration, Instant};

mod common;

use common::*;

/// Interleaved pairs per round.
const PAIRS: usize = 41;
/// Rounds before the test gives up.
const ROUNDS: usize = 3;
/// The medians may differ by this much (20 %).
const TOLERANCE: f64 = 1.20;

async fn refused_in(app: &TestApp, user: &str, password: &str, message: &str) -> Duration {
    let envelope = submit_envelope(user, password, FACILITY, message);
    let started = Instant::now();
    let (status, body) = app.soap12(&envelope).await;
    let took = started.elapsed();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("SecurityFault"), "{body}");
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.max(b).as_secs_f64() / a.min(b).as_secs_f64().max(1e-9)
}

#[tokio::test]
async fn an_unknown_user_costs_the_same_time_as_a_wrong_password() {
    let app = spawn_app().await;
    let message = vxu("TIMING-1", "MRN-T", "DOSE-T");
    let wrong_password = |app| refused_in(app, USER, "not-the-password", &message);
    let unknown_user = |app| refused_in(app, "no-such-user", PASSWORD, &message);
    for _ in 0..3 {
        wrong_password(&app).await;
        unknown_user(&app).await;
    }
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let (mut wrong, mut unknown, mut early) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..PAIRS {
            if i % 2 == 0 {
                wrong.push(wrong_password(&app).await);
                unknown.push(unknown_user(&app).await);
            } else {
                unknown.push(unknown_user(&app).await);
                wrong.push(wrong_password(&app).await);
            }
            early.push(refused_in(&app, USER, "", &message).await);
        }
        let (w, u, e) = (median(wrong), median(unknown), median(early));
        eprintln!("medians: wrong password {w:?}, unknown user {u:?}, no verification {e:?}");
        // The measurement can tell a verification from none.
        assert!(
            ratio(w, e) > 2.0,
            "a refusal without verification ({e:?}) should be far faster than one with ({w:?})"
        );
        rounds.push((w, u));
        if ratio(w, u) <= TOLERANCE {
            return;
        }
    }
    panic!(
        "wrong password and unknown user medians differ by more than 20 % in every round: {rounds:?}"
    );
}
