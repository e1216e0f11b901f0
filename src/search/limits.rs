//! Limits that steer rather than end a search. An architecture over `--max-params` or
//! `--max-macs` is recorded as rejected (the strategy learns from it) but does not use up one of
//! the `--samples` candidates; the search keeps sampling until it has them, up to a cap on
//! rejections. Before it starts, it estimates by sampling how much of the space is within the
//! limits (and under the soft objective's target), says so, and refuses limits that nothing
//! sampled meets.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::SearchConfig;
use super::SearchEvent;
use crate::error::{Error, Result};
use crate::space::{Space, SpaceBody};

/// Architectures sampled to estimate the share of the space within the limits.
const ESTIMATE_SAMPLES: usize = 1000;
/// The estimate's own random stream, apart from the strategy's.
const ESTIMATE_STREAM: u64 = 21;

/// The most rejections a search of `samples` candidates makes before it gives up.
pub fn rejection_cap(samples: usize) -> usize {
    (samples * 20).max(100)
}

/// Estimates the share of a cell space within the search's limits and reports it; an error
/// naming the flag when no sampled architecture is within them.
pub fn check_feasible(
    cfg: &SearchConfig,
    space: &Space,
    events: &mut dyn FnMut(SearchEvent),
) -> Result<()> {
    let limited = cfg.max_params.is_some() || cfg.max_macs.is_some();
    if matches!(space.body, SpaceBody::Table(_)) || !(limited || cfg.target_params.is_some()) {
        return Ok(());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(ESTIMATE_STREAM);
    let (mut within, mut under_target, mut smallest) = (0usize, 0usize, (u64::MAX, u64::MAX));
    for _ in 0..ESTIMATE_SAMPLES {
        let decisions = space.sample(&mut rng);
        let Ok(graph) = space.decode(&decisions).and_then(|a| a.lower()) else {
            continue;
        };
        let (params, macs) = (graph.params(), graph.macs());
        smallest = (smallest.0.min(params), smallest.1.min(macs));
        if cfg.rejection(params, macs).is_none() {
            within += 1;
        }
        if cfg.target_params.is_some_and(|t| params <= t) {
            under_target += 1;
        }
    }
    let share = |n: usize| 100.0 * n as f64 / ESTIMATE_SAMPLES as f64;
    if limited {
        if within == 0 {
            let (flag, value, least) = match (cfg.max_params, cfg.max_macs) {
                (Some(p), _) if smallest.0 > p => {
                    ("--max-params", p, format!("{} parameters", smallest.0))
                }
                (_, Some(m)) => ("--max-macs", m, format!("{} MACs", smallest.1)),
                (Some(p), None) => ("--max-params", p, format!("{} parameters", smallest.0)),
                (None, None) => unreachable!("limited"),
            };
            return Err(Error::invalid(
                flag,
                format!(
                    "no architecture of {ESTIMATE_SAMPLES} sampled from `{}` is within {flag} {value} (the smallest had {least}); raise the limit or search a smaller space",
                    space.name
                ),
            ));
        }
        events(SearchEvent::Notice {
            message: format!(
                "about {:.1}% of `{}` is within the limits ({within} of {ESTIMATE_SAMPLES} sampled architectures); rejected candidates do not count towards --samples {} (the search gives up after {} rejections)",
                share(within),
                space.name,
                cfg.samples,
                rejection_cap(cfg.samples)
            ),
        });
    }
    if let Some(target) = cfg.target_params {
        events(SearchEvent::Notice {
            message: format!(
                "about {:.1}% of `{}` has at most --target-params {target} parameters ({under_target} of {ESTIMATE_SAMPLES} sampled); larger candidates are rewarded less",
                share(under_target),
                space.name
            ),
        });
    }
    Ok(())
}

/// What to tell the user when the search gave up on its limits.
pub fn gave_up(cfg: &SearchConfig, rejected: usize, counted: usize) -> String {
    format!(
        "gave up after {rejected} candidates over the limits: only {counted} of the {} asked for were within them; the feasible part of the space is small, so raise --max-params/--max-macs or search a smaller space",
        cfg.samples
    )
}
