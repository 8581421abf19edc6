//! `synq soak`: two synq stacks in the simulator move a stream each way over an impaired
//! link for many seeds ([`synq_sim::soak`]): every byte checked, every connection closed,
//! TIME_WAIT for its 60 s, nothing left behind. Seed `s` runs with `s mod 21` % loss (0 to
//! 20 %), 1 % duplication and 2 % reordering on a 10 ms link.

use std::time::Instant as WallClock;

use synq_core::Duration;
use synq_sim::LinkConfig;

/// `synq soak`'s options.
#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How many seeds (runs), from `--first`.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Megabytes (MiB) each way per run.
    #[arg(long, default_value_t = 100)]
    mb: u64,
    /// The highest loss rate, percent (seeds cycle through 0..=this).
    #[arg(long, default_value_t = 20)]
    max_loss: u64,
}

/// Runs every seed; fails at the first that breaks a rule.
pub fn run(args: &SoakArgs) -> Result<(), String> {
    let bytes = args.mb << 20;
    let started = WallClock::now();
    let mut worst = (0, Duration::ZERO);
    for seed in args.first..args.first + args.seeds {
        let loss = seed % (args.max_loss + 1);
        let link = LinkConfig {
            loss: loss as f64 / 100.0,
            duplicate: 0.01,
            reorder: 0.02,
            ..LinkConfig::with_delay(Duration::from_millis(10))
        };
        let r = synq_sim::soak(seed, bytes, link)?;
        let took = r.transfer_done - synq_core::Instant::ZERO;
        if took > worst.1 {
            worst = (seed, took);
        }
        println!(
            "seed {seed:3}  loss {loss:2} %  {} MiB each way in {:8.1} s virtual  {:9} datagrams, {:8} lost, {:8} retransmitted",
            args.mb,
            took.as_secs_f64(),
            r.datagrams,
            r.lost,
            r.retransmits
        );
    }
    println!(
        "soak: {} seeds passed ({} MiB each way, 0-{} % loss) in {:.1} s; slowest: seed {} ({:.1} s virtual)",
        args.seeds,
        args.mb,
        args.max_loss,
        started.elapsed().as_secs_f64(),
        worst.0,
        worst.1.as_secs_f64()
    );
    Ok(())
}
