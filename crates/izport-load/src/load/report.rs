//! Counting outcomes and latencies, and the report of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::mix::RequestKind;
use super::soap::Outcome;
use super::LoadError;

/// Latency percentiles in milliseconds (from a histogram of microseconds, 3 significant
/// digits). All 0 when no response was timed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latencies {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latencies {
    /// Percentiles of a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Latencies {
        if h.is_empty() {
            return Latencies::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latencies {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// The figures of one request kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KindReport {
    /// Requests of this kind.
    pub count: u64,
    /// Of which answered as asked (outcome `ok`).
    pub ok: u64,
    pub latency_ms: Latencies,
    /// Outcomes of this kind's requests (keys as in [`LoadReport::outcomes`]).
    pub outcomes: BTreeMap<String, u64>,
}

/// The result of a run.
///
/// Latencies are of requests that got a complete HTTP response (any status), measured from
/// just before the request was sent to the end of the response body; timeouts, connection
/// failures and failures in flight are counted in `outcomes` but not timed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadReport {
    /// Requests made (every outcome, including failures to connect).
    pub requests: u64,
    /// Wall time of the run, in seconds.
    pub elapsed_s: f64,
    /// `requests / elapsed_s`.
    pub throughput: f64,
    pub latency_ms: Latencies,
    /// Requests per outcome: `ok`, `http_<status>`, `soap_fault_<detail element>` (or
    /// `soap_fault` without one), `ack_AE`, `ack_AR` (other MSA-1 codes likewise),
    /// `ack_mismatch` (MSA-2/QAK-1 not what was sent), `qak_<code>` (an RSP whose QAK-2 is
    /// neither OK nor NF), `bad_response`, `timeout`, `connect_error`, `io_error`.
    pub outcomes: BTreeMap<String, u64>,
    /// Figures per request kind (`vxu`, `z34`, `connectivity`), for the kinds in the mix.
    pub by_kind: BTreeMap<String, KindReport>,
    /// The seed the synthetic data came from (repeat it to send the same data).
    pub seed: u64,
    /// Concurrent connections used.
    pub concurrency: usize,
    /// The mix, in canonical form (`vxu=80,z34=20`).
    pub mix: String,
}

impl LoadReport {
    /// Requests whose outcome was not `ok`.
    pub fn failures(&self) -> u64 {
        let ok = self.outcomes.get("ok").copied().unwrap_or(0);
        self.requests.saturating_sub(ok)
    }

    /// A few aligned lines for a terminal.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "requests     {} ({} ok, {} failed)  concurrency {}  mix {}  seed {}",
            self.requests,
            self.requests - self.failures(),
            self.failures(),
            self.concurrency,
            self.mix,
            self.seed
        );
        let _ = writeln!(out, "elapsed      {:.2} s", self.elapsed_s);
        let _ = writeln!(out, "throughput   {:.1} req/s", self.throughput);
        let l = &self.latency_ms;
        let _ = writeln!(
            out,
            "latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            l.p50, l.p90, l.p99, l.max
        );
        let _ = writeln!(out, "outcomes     {}", outcome_list(&self.outcomes));
        for (kind, k) in &self.by_kind {
            let _ = writeln!(
                out,
                "{kind:<13}{} requests, {} ok, p50 {:.3} ms, p99 {:.3} ms; {}",
                k.count,
                k.ok,
                k.latency_ms.p50,
                k.latency_ms.p99,
                outcome_list(&k.outcomes)
            );
        }
        out
    }
}

fn outcome_list(outcomes: &BTreeMap<String, u64>) -> String {
    if outcomes.is_empty() {
        return "none".into();
    }
    // `ok` first, then the failures by count (most frequent first).
    let mut items: Vec<(&String, &u64)> = outcomes.iter().collect();
    items.sort_by(|a, b| {
        (a.0 != "ok")
            .cmp(&(b.0 != "ok"))
            .then(b.1.cmp(a.1))
            .then(a.0.cmp(b.0))
    });
    items
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A latency histogram in microseconds, from 1 µs to `max_us` (at least 1 s, at most 4 h),
/// 3 significant digits; larger values are recorded as the maximum. The bounds are always
/// valid (1 ≤ low, high ≥ 2·low, 3 digits); were the library to refuse them, the run fails
/// with [`LoadError::Histogram`] instead of stopping the process.
pub(crate) fn histogram(max_us: u64) -> Result<Histogram<u64>, LoadError> {
    Histogram::new_with_bounds(1, max_us.clamp(1_000_000, 14_400_000_000), 3)
        .map_err(|e| LoadError::Histogram(format!("{e:?}")))
}

/// Counts for one request kind.
pub(crate) struct KindStats {
    pub latency: Histogram<u64>,
    pub count: u64,
    pub ok: u64,
    pub outcomes: BTreeMap<String, u64>,
}

/// Counts of a share of the workers; merged at the end of a run.
pub(crate) struct Stats {
    pub kinds: [KindStats; super::mix::KINDS],
}

impl Stats {
    pub fn new(max_us: u64) -> Result<Stats, LoadError> {
        let kind = || -> Result<KindStats, LoadError> {
            Ok(KindStats {
                latency: histogram(max_us)?,
                count: 0,
                ok: 0,
                outcomes: BTreeMap::new(),
            })
        };
        Ok(Stats {
            kinds: [kind()?, kind()?, kind()?, kind()?],
        })
    }

    /// Records one request; `latency_us` when a response was received.
    pub fn record(&mut self, kind: RequestKind, outcome: &Outcome, latency_us: Option<u64>) {
        let k = &mut self.kinds[kind.index()];
        k.count += 1;
        if outcome.is_ok() {
            k.ok += 1;
        }
        let key = outcome.key();
        match k.outcomes.get_mut(key.as_ref()) {
            Some(n) => *n += 1,
            None => {
                k.outcomes.insert(key.into_owned(), 1);
            }
        }
        if let Some(us) = latency_us {
            k.latency.saturating_record(us.max(1));
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        for (mine, theirs) in self.kinds.iter_mut().zip(other.kinds.iter()) {
            mine.count += theirs.count;
            mine.ok += theirs.ok;
            for (key, n) in &theirs.outcomes {
                *mine.outcomes.entry(key.clone()).or_insert(0) += n;
            }
            // Same bounds on both sides, so adding cannot fail; a failure would only lose
            // timing of that share, never the counts.
            let _ = mine.latency.add(&theirs.latency);
        }
    }

    /// The report of a run that took `elapsed_s` seconds.
    pub fn report(
        &self,
        elapsed_s: f64,
        kinds: impl Iterator<Item = RequestKind>,
        seed: u64,
        concurrency: usize,
        mix: String,
    ) -> Result<LoadReport, LoadError> {
        let mut all = histogram(self.kinds[0].latency.high())?;
        let mut outcomes = BTreeMap::new();
        let mut by_kind = BTreeMap::new();
        let mut requests = 0;
        let kinds: Vec<RequestKind> = kinds.collect();
        for kind in RequestKind::ALL {
            let k = &self.kinds[kind.index()];
            if k.count == 0 && !kinds.contains(&kind) {
                continue;
            }
            requests += k.count;
            let _ = all.add(&k.latency);
            for (key, n) in &k.outcomes {
                *outcomes.entry(key.clone()).or_insert(0) += n;
            }
            by_kind.insert(
                kind.as_str().to_string(),
                KindReport {
                    count: k.count,
                    ok: k.ok,
                    latency_ms: Latencies::from_histogram(&k.latency),
                    outcomes: k.outcomes.clone(),
                },
            );
        }
        Ok(LoadReport {
            requests,
            elapsed_s,
            throughput: if elapsed_s > 0.0 {
                requests as f64 / elapsed_s
            } else {
                0.0
            },
            latency_ms: Latencies::from_histogram(&all),
            outcomes,
            by_kind,
            seed,
            concurrency,
            mix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_a_known_histogram() {
        let mut h = histogram(60_000_000).unwrap();
        // 1..=1000 ms, one sample each.
        for ms in 1..=1000u64 {
            h.record(ms * 1000).unwrap();
        }
        let l = Latencies::from_histogram(&h);
        // 3 significant digits: within 0.1 %.
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(l.p50, 500.0), "{l:?}");
        assert!(close(l.p90, 900.0), "{l:?}");
        assert!(close(l.p99, 990.0), "{l:?}");
        assert!(close(l.max, 1000.0), "{l:?}");
        assert_eq!(
            Latencies::from_histogram(&histogram(1).unwrap()),
            Latencies::default()
        );
    }

    // Whatever timeout a run is given, the clamped bounds are ones the library accepts.
    #[test]
    fn histogram_bounds_are_valid_for_any_timeout() {
        for max_us in [
            0,
            1,
            999_999,
            1_000_000,
            60_000_000,
            14_400_000_001,
            u64::MAX,
        ] {
            let h = histogram(max_us).unwrap();
            assert!(h.high() >= 1_000_000, "{max_us}");
        }
        assert!(Stats::new(u64::MAX).is_ok());
    }

    #[test]
    fn stats_merge_and_report() {
        let mut a = Stats::new(30_000_000).unwrap();
        let mut b = Stats::new(30_000_000).unwrap();
        for i in 0..90 {
            a.record(RequestKind::Vxu, &Outcome::Ok, Some(1000 + i));
        }
        for _ in 0..10 {
            b.record(RequestKind::Z34, &Outcome::Ack("AR".into()), Some(5000));
        }
        b.record(RequestKind::Vxu, &Outcome::Http(503), Some(200));
        b.record(RequestKind::Vxu, &Outcome::Timeout, None);
        b.record(
            RequestKind::Vxu,
            &Outcome::SoapFault(Some("SecurityFault".into())),
            Some(300),
        );
        a.merge(&b);
        let r = a
            .report(
                2.0,
                [RequestKind::Vxu, RequestKind::Z34].into_iter(),
                7,
                4,
                "vxu=80,z34=20".into(),
            )
            .unwrap();
        assert_eq!(r.requests, 103);
        assert_eq!(r.failures(), 13);
        assert_eq!(r.throughput, 51.5);
        assert_eq!(r.outcomes["ok"], 90);
        assert_eq!(r.outcomes["ack_AR"], 10);
        assert_eq!(r.outcomes["http_503"], 1);
        assert_eq!(r.outcomes["timeout"], 1);
        assert_eq!(r.outcomes["soap_fault_SecurityFault"], 1);
        assert_eq!(r.by_kind["vxu"].count, 93);
        assert_eq!(r.by_kind["vxu"].ok, 90);
        assert_eq!(r.by_kind["z34"].ok, 0);
        assert_eq!(r.by_kind["z34"].outcomes["ack_AR"], 10);
        assert!(!r.by_kind.contains_key("connectivity"));
        // 102 timed samples: max 5 ms (z34), p50 about 1.05 ms.
        assert!((r.latency_ms.max - 5.0).abs() < 0.01, "{:?}", r.latency_ms);
        assert!(r.latency_ms.p50 > 1.0 && r.latency_ms.p50 < 1.1);
        assert!((r.by_kind["z34"].latency_ms.p99 - 5.0).abs() < 0.01);

        let text = r.render_text();
        assert!(
            text.contains("requests     103 (90 ok, 13 failed)"),
            "{text}"
        );
        assert!(text.contains("throughput   51.5 req/s"), "{text}");
        assert!(text.contains("outcomes     ok 90, ack_AR 10, "), "{text}");
        assert!(text.lines().any(|l| l.starts_with("vxu ")), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("latency ms   p50 ")),
            "{text}"
        );

        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["requests"], 103);
        assert_eq!(json["outcomes"]["ack_AR"], 10);
        assert_eq!(json["by_kind"]["vxu"]["ok"], 90);
        assert!(json["latency_ms"]["p99"].is_f64());
        assert!(serde_json::to_string(&r).unwrap().lines().count() == 1);
    }
}
