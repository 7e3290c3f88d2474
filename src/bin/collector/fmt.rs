//! Small formatting helpers of the program's output.

/// The first 12 characters of a key, as listings show it.
pub fn short(key: &str) -> &str {
    key.get(..12).unwrap_or(key)
}

/// "s" unless `n` is 1.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Bytes in binary units: `512 B`, `6.0 KiB`, `4.6 MiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// What an append did beyond adding the event, one line each: a reset,
/// a new history for the sweep name, column changes (a replaced event is
/// said on the history line).
pub fn append_notes(a: &result_collector::AppendOutcome) -> String {
    let mut out = String::new();
    if let Some(l) = &a.lineage {
        let why = if l.changes.is_empty() {
            "its history key changed".to_string()
        } else {
            l.changes.join("; ")
        };
        out.push_str(&format!(
            "new history: the sweep's previous history {} is kept but superseded ({why})\n",
            short(&l.previous_key)
        ));
    }
    if let Some(reason) = &a.reset {
        out.push_str(&format!("history was reset: {reason}\n"));
    }
    for r in &a.columns.retired {
        out.push_str(&format!(
            "column `{}` changed ({} -> {}): its old values are kept as `{}`\n",
            r.column, r.was, r.now, r.retired_as
        ));
    }
    let list = |v: &[String]| {
        v.iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !a.columns.dormant.is_empty() {
        out.push_str(&format!(
            "dormant columns (not in this run, kept): {}\n",
            list(&a.columns.dormant)
        ));
    }
    if !a.columns.resumed.is_empty() {
        out.push_str(&format!("resumed columns: {}\n", list(&a.columns.resumed)));
    }
    // In a history's first event every column is new: said only later.
    if !a.columns.born.is_empty() && a.events > 1 {
        out.push_str(&format!(
            "new columns (empty in the older events): {}\n",
            list(&a.columns.born)
        ));
    }
    let trimmed = a
        .removed_events
        .saturating_sub(u64::from(a.replaced.is_some()));
    if a.reset.is_none() && a.lineage.is_none() && trimmed > 0 {
        out.push_str(&format!(
            "trimmed: {trimmed} older event{} removed (max_time_events)\n",
            plural(usize::try_from(trimmed).unwrap_or(usize::MAX))
        ));
    }
    if a.aged_events > 0 {
        out.push_str(&format!(
            "aged: {} older event{} lost cells past their column's max_time_events\n",
            a.aged_events,
            plural(usize::try_from(a.aged_events).unwrap_or(usize::MAX))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_ls_h() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(6 * 1024), "6.0 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
        assert_eq!(plural(1), "");
        assert_eq!(plural(2), "s");
    }
}
