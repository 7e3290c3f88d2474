//! collector-report (filled in by its own issue).
