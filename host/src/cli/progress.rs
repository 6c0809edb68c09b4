//! The progress display of `mapsync sync` on a terminal.

use std::collections::HashMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::component::bindings::types::ElementKind;
use crate::store::staging::BatchOutcome;
use crate::store::staging::{Progress, kind_name};

/// A spinner per kind on a terminal's stderr; plain lines, one per kind
/// read, when stderr is a pipe or a log.
pub fn for_terminal() -> Box<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Box::new(PlainLines::default());
    }
    Box::new(Spinners {
        all: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        bars: HashMap::new(),
    })
}

#[derive(Default)]
struct PlainLines {
    read: HashMap<&'static str, u64>,
}

impl Progress for PlainLines {
    fn batch(&mut self, kind: ElementKind, outcome: &BatchOutcome) {
        *self.read.entry(kind_name(kind)).or_default() +=
            u64::from(outcome.created + outcome.updated + outcome.unchanged);
    }

    fn completed(&mut self, kind: ElementKind, removed: u32) {
        let read = self.read.get(kind_name(kind)).copied().unwrap_or(0);
        eprintln!("{}: {read} read, {removed} removed", kind_name(kind));
    }
}

struct Spinners {
    all: MultiProgress,
    bars: HashMap<&'static str, (ProgressBar, u64)>,
}

impl Spinners {
    fn bar(&mut self, kind: ElementKind) -> &mut (ProgressBar, u64) {
        let all = &self.all;
        self.bars.entry(kind_name(kind)).or_insert_with(|| {
            let bar = all.add(ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::with_template("{spinner} {prefix:<10} {msg}").unwrap());
            bar.set_prefix(kind_name(kind));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            (bar, 0)
        })
    }
}

impl Progress for Spinners {
    fn batch(&mut self, kind: ElementKind, outcome: &BatchOutcome) {
        let (bar, count) = self.bar(kind);
        *count += u64::from(outcome.created + outcome.updated + outcome.unchanged);
        bar.set_message(format!("{count} read"));
    }

    fn completed(&mut self, kind: ElementKind, removed: u32) {
        let (bar, count) = self.bar(kind);
        bar.finish_with_message(format!("{count} read, {removed} removed"));
    }
}
