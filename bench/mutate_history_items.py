#!/usr/bin/env python3
"""Re-breaks each fix of issue 11 (items 1-8) in turn and runs the test that
guards it; each test must fail under its mutation. The file is restored
(git checkout) after each run. Usage, from the workspace root, with a clean
tree: python3 bench/mutate_history_items.py [itemN ...]
"""
import subprocess, sys
muts = {
 "item2": ("collector-cache/src/history/append.rs",
    "Some(i) if meta.columns[i].same_identity(c.kind, &c.attrs.units, m_v) => {",
    "Some(i) if true || meta.columns[i].same_identity(c.kind, &c.attrs.units, m_v) => {"),
 "item3": ("collector-cache/src/history/append.rs",
    "        let Some(l) = &options.lineage else {\n            return Ok((None, false));",
    "        let Some(l) = &options.lineage.as_ref().filter(|_| false) else {\n            return Ok((None, false));"),
 "item4": ("src/collector.rs",
    "            clear_history: h.clear_history,\n            max_time_events: h.max_time_events,",
    "            clear_history: false,\n            max_time_events: None,"),
 "item5": ("src/collector.rs",
    "if let Some(source) = stopped.or_else(|| result.check_failures().err()) {",
    "if let Some(source) = stopped.or_else(|| result.check_failures().err()).filter(|_| false) {"),
 "item6": ("src/collector.rs",
    "            db.check_append(&hkey, &result.dataset, &append)?;",
    "            let _ = &append;"),
 "item7": ("collector-cache/src/files.rs",
    "                Ok(r) => r.dataset.named_files().for_each(&mut visit),",
    "                Ok(_r) => {}"),
 "item1": ("src/collector.rs", "use_cache: false", "use_cache: true"),
 "item8": ("collector-cache/src/history/meta.rs",
    "    pub(super) fn insert_position(&self, at: &At) -> usize {\n        self.events.insert_position(at)",
    "    pub(super) fn insert_position(&self, at: &At) -> usize {\n        let _ = at;\n        self.events.len()"),
}

def run(name):
    path, old, new = muts[name]
    s = open(path).read()
    assert old in s, f"{name}: the code to mutate is not in {path}"
    open(path, "w").write(s.replace(old, new, 1))
    try:
        t = (["--test", "facade", "every_run_records"] if name == "item1"
             else ["--test", "history_trust", name])
        r = subprocess.run(["cargo", "test", "-q", *t], capture_output=True, text=True)
        failed = r.returncode != 0 and "test result: FAILED" in r.stdout
        print(f"{name}: {'caught (the test fails)' if failed else 'NOT CAUGHT'}")
        return failed
    finally:
        subprocess.run(["git", "checkout", "-q", "--", path], check=True)

names = sys.argv[1:] or sorted(muts)
sys.exit(0 if all([run(n) for n in names]) else 1)
