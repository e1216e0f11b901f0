//! Rendering a loaded data set's summary (`DataSummary`) as the lines `nas train` and
//! `nas search` print on stderr before training: the splits per class, the image size picked
//! for a mixed-size folder, and what the image cache did.

use nas::data::DataSummary;

use super::table::{render, thousands};

/// Classes listed one per row up to this many; more are summarised by their extremes.
const MAX_ROWS: usize = 20;

/// The lines describing `data`, each without a trailing newline.
pub fn lines(data: &DataSummary) -> Vec<String> {
    let total = |counts: &[usize]| counts.iter().sum::<usize>();
    let [c, h, w] = data.input;
    let mut out = vec![format!(
        "data {}: {} classes, {c}x{h}x{w} images; {} train, {} validation, {} test",
        data.name,
        data.class_names.len(),
        thousands(total(&data.train) as u64),
        thousands(total(&data.val) as u64),
        thousands(total(&data.test) as u64),
    )];
    out.extend(class_table(data).lines().map(|l| format!("  {l}")));
    if let Some(reason) = &data.size_choice {
        out.push(format!("image size: {reason}"));
    }
    if let Some(cache) = &data.cache {
        let place = cache
            .dir
            .as_ref()
            .map(|d| format!(" (cache {})", d.display()))
            .unwrap_or_default();
        out.push(format!(
            "images: {} from the cache, {} decoded, in {:.1} s{place}",
            thousands(cache.hits as u64),
            thousands(cache.decoded as u64),
            cache.seconds
        ));
        if let Some(note) = &cache.note {
            out.push(format!("warning: decoded images {note}"));
        }
    }
    out
}

/// Images per class and split, or the smallest and largest class when there are many.
fn class_table(data: &DataSummary) -> String {
    let headers = ["CLASS", "TRAIN", "VAL", "TEST"];
    let row = |name: String, i: Option<usize>| -> Vec<String> {
        let cell = |counts: &[usize]| match i {
            Some(i) => counts.get(i).copied().unwrap_or(0).to_string(),
            None => {
                let min = counts.iter().min().copied().unwrap_or(0);
                let max = counts.iter().max().copied().unwrap_or(0);
                format!("{min}..{max}")
            }
        };
        vec![name, cell(&data.train), cell(&data.val), cell(&data.test)]
    };
    let rows: Vec<Vec<String>> = if data.class_names.len() <= MAX_ROWS {
        data.class_names
            .iter()
            .enumerate()
            .map(|(i, name)| row(name.clone(), Some(i)))
            .collect()
    } else {
        vec![row(format!("({} classes)", data.class_names.len()), None)]
    };
    render(&headers, &rows)
}
