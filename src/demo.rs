//! The built-in demo sweep of `collector demo`: sorting pseudo-random
//! data of a few sizes, in a few chunks, with three algorithms, three
//! times each, with a float, a vector and an image result.
//!
//! ```
//! use result_collector::{demo, ResultCollector, RunOptions, TimeSrc};
//!
//! let dir = tempfile::tempdir()?;
//! let collector = ResultCollector::new(Some(dir.path()));
//! let sweep = demo::sweep()?;
//! let media = collector.media_root()?;
//! let run = collector.run(&sweep, &TimeSrc::Label("v1".into()), &RunOptions::default(), |s| {
//!     demo::job(&sweep, &media, s)
//! })?;
//! assert_eq!(run.result.stats.attempted, 54);
//! assert_eq!(run.result.stats.failed, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use collector_core::{
    Direction, InputVar, Outputs, ResultKind, ResultVar, Sample, Sweep, sample_key,
};
use collector_media::MediaRoot;

/// Why a demo job failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Reading the job's inputs.
    #[error(transparent)]
    Model(#[from] collector_core::Error),
    /// Writing the job's image file (the error names it).
    #[error(transparent)]
    Media(#[from] collector_media::Error),
    /// Drawing the image.
    #[error(transparent)]
    Report(#[from] collector_report::Error),
    /// An input outside what the demo knows.
    #[error("{0}")]
    Input(String),
}

/// The demo sweep: `size` (0.5, 1.25, 2 thousand items) x `chunks` (1, 4)
/// x `algo` (stable, unstable, heap) x 3 repeats = 54 jobs, with history.
pub fn sweep() -> collector_core::Result<Sweep> {
    sweep_at("")
}

/// The demo sweep, declaring `version` as its code version ("": none).
pub fn sweep_at(version: &str) -> collector_core::Result<Sweep> {
    Sweep::builder("demo")
        .version(version)
        .title("collector demo: sorting pseudo-random data")
        .description(
            "Sorts `size` thousand pseudo-random numbers in `chunks` chunks with `algo`, then merges them.",
        )
        .input(
            InputVar::float_samples("size", 0.5, 2.0, 3)
                .units("k items")
                .description("thousands of numbers to sort"),
        )
        .input(
            InputVar::int_values("chunks", [1, 4])
                .description("the data is sorted in this many chunks, then merged"),
        )
        .input(
            InputVar::labels("algo", ["stable", "unstable", "heap"])
                .description("the sort used on each chunk"),
        )
        .result(
            ResultVar::float("time")
                .units("s")
                .direction(Direction::Minimize)
                .description("modelled cost plus the measured sorting time"),
        )
        .result(ResultVar::vector("quantiles", 3).description("min, median and max of the data"))
        .result(ResultVar::image("plot").description("an SVG plot of the sorted data"))
        .repeats(3)
        .over_time(true)
        .build()
}

/// Pseudo-random numbers in [0, 1) from a 64-bit LCG (deterministic per seed).
pub fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn sort_chunk(chunk: &mut [f64], algo: &str) -> Result<(), DemoError> {
    match algo {
        "stable" => chunk.sort_by(f64::total_cmp),
        "unstable" => chunk.sort_unstable_by(f64::total_cmp),
        "heap" => {
            // Non-negative floats order like their bits.
            let mut heap: BinaryHeap<Reverse<u64>> =
                chunk.iter().map(|x| Reverse(x.to_bits())).collect();
            for slot in chunk.iter_mut() {
                let Some(Reverse(bits)) = heap.pop() else {
                    return Err(DemoError::Input("heap underflow".into()));
                };
                *slot = f64::from_bits(bits);
            }
        }
        other => return Err(DemoError::Input(format!("unknown algorithm `{other}`"))),
    }
    Ok(())
}

/// Sorts `data` in `chunks` chunks with `algo`, then merges them.
pub fn chunked_sort(mut data: Vec<f64>, chunks: usize, algo: &str) -> Result<Vec<f64>, DemoError> {
    let len = data.len();
    let size = len.div_ceil(chunks.max(1)).max(1);
    for c in data.chunks_mut(size) {
        sort_chunk(c, algo)?;
    }
    // k-way merge of the sorted chunks: the smallest head each time.
    let mut heads: BinaryHeap<Reverse<(u64, usize, usize)>> = data
        .chunks(size)
        .enumerate()
        .filter_map(|(r, run)| run.first().map(|v| Reverse((v.to_bits(), r, 0))))
        .collect();
    let runs: Vec<&[f64]> = data.chunks(size).collect();
    let mut out = Vec::with_capacity(len);
    while let Some(Reverse((bits, r, i))) = heads.pop() {
        out.push(f64::from_bits(bits));
        if let Some(v) = runs[r].get(i + 1) {
            heads.push(Reverse((v.to_bits(), r, i + 1)));
        }
    }
    Ok(out)
}

/// Runs one demo job: sorts its data, models its cost, writes its plot
/// into the media root and returns its outputs.
pub fn job(sweep: &Sweep, media: &MediaRoot, s: &Sample<'_>) -> Result<Outputs, DemoError> {
    let size = s.get::<f64>("size")?;
    let chunks = usize::try_from(s.get::<i64>("chunks")?)
        .map_err(|_| DemoError::Input("`chunks` must not be negative".into()))?;
    let algo = s.get::<String>("algo")?;
    let n = (size * 1000.0).round() as usize;
    let input = data(n, n as u64 * 31 + s.repeat() as u64);
    let t0 = Instant::now();
    let sorted = chunked_sort(input, chunks, &algo)?;
    let measured = t0.elapsed().as_secs_f64();
    // A deterministic model of the cost (n log n per chunk plus the
    // merge), plus the real measured time.
    let per_chunk = (n as f64 / chunks.max(1) as f64).max(1.0);
    let factor = match algo.as_str() {
        "stable" => 1.0,
        "unstable" => 0.8,
        _ => 1.6,
    };
    let model = 1e-8 * factor * n as f64 * per_chunk.log2() + 2e-9 * n as f64 * chunks as f64;
    let quantiles = [
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.get(n / 2).copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    ];
    let key = sample_key(sweep, &s.inputs());
    let title = format!("{algo}, {n} items, {chunks} chunks, repeat {}", s.repeat());
    let step = (sorted.len() / 64).max(1);
    let points: Vec<f64> = sorted.iter().step_by(step).copied().collect();
    let svg = collector_report::line_svg(&points, &title, 240, 140)?;
    // Through a temporary file: a failed write leaves nothing behind.
    let file = media.write_file(
        ResultKind::Image,
        "plot",
        &key,
        "sorted.svg",
        svg.as_bytes(),
    )?;
    Ok(s.outputs()
        .with("time", model + measured)
        .with("quantiles", quantiles)
        .with("plot", file.cell))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_sorts_in_any_number_of_chunks() {
        let input = data(1001, 7);
        let mut expected = input.clone();
        expected.sort_by(f64::total_cmp);
        for algo in ["stable", "unstable", "heap"] {
            for chunks in [1, 3, 4, 2000] {
                let got = chunked_sort(input.clone(), chunks, algo).expect("sorts");
                assert_eq!(got, expected, "{algo} in {chunks} chunks");
            }
        }
        assert!(
            chunked_sort(Vec::new(), 4, "heap")
                .expect("empty")
                .is_empty()
        );
        assert!(chunked_sort(input, 1, "bogo").is_err());
    }

    #[test]
    fn data_is_deterministic_and_in_the_unit_interval() {
        assert_eq!(data(10, 3), data(10, 3));
        assert_ne!(data(10, 3), data(10, 4));
        assert!(data(1000, 1).iter().all(|x| (0.0..1.0).contains(x)));
    }
}
