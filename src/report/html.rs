//! The report page: one self-contained HTML document (inline CSS, inline SVG, one small inline
//! script that checks the plots drew), with no request to the network. While a run is being
//! searched the page carries a `<meta http-equiv="refresh">`, so an open browser follows it.

use std::fmt::Write;

use super::arch_drawing;
use super::model::{accuracy, reason_counts, Report, RunReport};
use super::page_assets::{SCRIPT, STYLE};
use super::plots;
use super::size_plot::{self, SizeAxis};
use super::training_plots;
use crate::error::Result;
use crate::store::Candidate;

/// Seconds between reloads of a live page.
pub const REFRESH_SECONDS: u32 = 5;

/// Failures listed per run; the rest are summarised by reason.
const MAX_FAILURES: usize = 100;

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(report: &Report) -> Result<String> {
    let names: Vec<&str> = report.runs.iter().map(|r| r.name.as_str()).collect();
    let mut page = String::new();
    let refresh = if report.running() {
        format!(r#"<meta http-equiv="refresh" content="{REFRESH_SECONDS}">"#)
    } else {
        String::new()
    };
    let _ = write!(
        page,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">{refresh}<title>nas report: {}</title><style>{STYLE}</style></head><body><main>"#,
        escape(&names.join(", "))
    );
    let _ = write!(
        page,
        r#"<header><h1>Search report</h1><p class="sub">{} · generated {}{}</p></header>"#,
        escape(&names.join(", ")),
        crate::search::utc_time(report.generated_at as u64),
        if report.running() {
            format!(" · reloads every {REFRESH_SECONDS} s while the search runs")
        } else {
            String::new()
        }
    );
    page.push_str(&nav());
    summary(&mut page, report);
    progress(&mut page, report)?;
    size(&mut page, report)?;
    controller(&mut page, report)?;
    best(&mut page, report)?;
    failures(&mut page, report);
    let _ = writeln!(page, "</main><script>{SCRIPT}</script></body></html>");
    Ok(page)
}

fn nav() -> String {
    let links = [
        ("summary", "Summary"),
        ("progress", "Progress"),
        ("size", "Accuracy vs size"),
        ("controller", "Controller"),
        ("best", "Best candidates"),
        ("failures", "Failures"),
    ];
    let items: Vec<String> = links
        .iter()
        .map(|(id, name)| format!(r##"<a href="#{id}">{name}</a>"##))
        .collect();
    format!("<nav>{}</nav>", items.join(""))
}

fn section(page: &mut String, id: &str, title: &str) {
    let _ = write!(page, r#"<section id="{id}"><h2>{title}</h2>"#);
}

/// A plot in a figure the page's script checks, with a caption.
fn figure(page: &mut String, name: &str, svg: &str, caption: &str) {
    let _ = write!(
        page,
        r#"<figure class="plot" data-plot="{name}">{svg}<figcaption>{}</figcaption></figure>"#,
        escape(caption)
    );
}

fn summary(page: &mut String, report: &Report) {
    section(page, "summary", "Summary");
    let spaces: std::collections::BTreeSet<&str> =
        report.runs.iter().map(|r| r.space.as_str()).collect();
    if spaces.len() > 1 {
        let list: Vec<&str> = spaces.into_iter().collect();
        let _ = write!(
            page,
            r#"<p class="warn">These runs search different spaces ({}): their rewards may not compare.</p>"#,
            escape(&list.join(", "))
        );
    }
    page.push_str(r#"<div class="cards">"#);
    for (i, run) in report.runs.iter().enumerate() {
        run_card(page, i, run, report.generated_at);
    }
    page.push_str("</div></section>");
}

fn run_card(page: &mut String, i: usize, run: &RunReport, now: f64) {
    let planned = run.settings.get("samples").and_then(|s| s.as_u64());
    let done = run.candidates.len();
    let samples = match planned {
        Some(n) => format!("{done} of {n}"),
        None => done.to_string(),
    };
    let best = match run.best.first() {
        Some(b) => format!("#{} · reward {:.4}{}", b.id, b.reward, size_note(b)),
        None => "none yet".into(),
    };
    let wall = run
        .wall_seconds(now)
        .map(duration)
        .unwrap_or_else(|| "-".into());
    let c = run.counts;
    let status = run.status.as_str();
    let _ = write!(
        page,
        r#"<article class="card"><h3><span class="swatch" style="background:{}"></span>{}<span class="status {status}">{status}</span></h3><dl><dt>space</dt><dd>{} ({})</dd><dt>strategy</dt><dd>{}</dd><dt>samples done</dt><dd>{samples}</dd><dt>wall time</dt><dd>{wall}</dd><dt>best</dt><dd>{}</dd><dt>candidates</dt><dd><b>{}</b> completed · <b>{}</b> failed · <b>{}</b> rejected · <b>{}</b> duplicate</dd></dl><details><summary>settings</summary><pre>{}</pre></details><p class="path">{}</p></article>"#,
        plots::css_colour(i),
        escape(&run.name),
        escape(&run.space),
        run.space_kind,
        escape(&run.strategy),
        escape(&best),
        c.completed,
        c.failed,
        c.rejected,
        c.duplicate,
        escape(&serde_json::to_string_pretty(&run.settings).unwrap_or_default()),
        escape(&run.path),
    );
}

fn size_note(c: &Candidate) -> String {
    let mut parts = Vec::new();
    if c.params > 0 {
        parts.push(format!("{} params", plots::short_count(c.params as f64)));
    }
    if c.macs > 0 {
        parts.push(format!("{} MACs", plots::short_count(c.macs as f64)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" · {}", parts.join(" · "))
    }
}

/// 3725.4 -> "1 h 02 min", 95 -> "1 min 35 s", 4.2 -> "4.2 s".
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match seconds {
        x if x < 60.0 => format!("{seconds:.1} s"),
        x if x < 3600.0 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

fn progress(page: &mut String, report: &Report) -> Result<()> {
    section(page, "progress", "Search progress");
    if report.runs.iter().all(|r| r.counts.completed == 0) {
        page.push_str(r#"<p class="none">No candidate has completed yet.</p></section>"#);
        return Ok(());
    }
    figure(page, "progress", &plots::progress(&report.runs)?, "Reward of each completed candidate (dots) and the best so far (line), in the order the search tried them.");
    page.push_str("</section>");
    Ok(())
}

fn size(page: &mut String, report: &Report) -> Result<()> {
    section(page, "size", "Accuracy against size");
    for (axis, name, what) in [
        (SizeAxis::Params, "params", "parameters"),
        (SizeAxis::Macs, "macs", "multiply-accumulates"),
    ] {
        if size_plot::has_size(&report.runs, axis) {
            let caption = format!("Accuracy against {what}. Red: the Pareto front (no other candidate is both smaller and more accurate). Circled: the best candidate.");
            figure(
                page,
                name,
                &size_plot::accuracy_vs_size(&report.runs, axis)?,
                &caption,
            );
        } else {
            let _ = write!(
                page,
                r#"<p class="none">No candidate has its {what} measured (a table space records only what its table holds).</p>"#
            );
        }
    }
    page.push_str("</section>");
    Ok(())
}

fn controller(page: &mut String, report: &Report) -> Result<()> {
    section(page, "controller", "Controller");
    if !report.runs.iter().any(RunReport::has_controller) {
        let strategies: Vec<String> = report.runs.iter().map(|r| r.strategy.clone()).collect();
        let _ = write!(
            page,
            r#"<p class="none">No learning controller in this search (strategy {}): it has no baseline or entropy to show.</p></section>"#,
            escape(&strategies.join(", "))
        );
        return Ok(());
    }
    let (reward, entropy) = training_plots::controller(&report.runs)?;
    page.push_str(r#"<div class="pair">"#);
    figure(page, "controller-reward", &reward, "Mean reward of each update's children (solid) and the moving-average baseline the advantages are measured against (dashed).");
    figure(page, "controller-entropy", &entropy, "Mean entropy of the policy along the sampled paths: it falls as the controller grows sure of its choices.");
    page.push_str("</div></section>");
    Ok(())
}

fn best(page: &mut String, report: &Report) -> Result<()> {
    section(page, "best", "Best candidates");
    for run in &report.runs {
        if report.runs.len() > 1 {
            let _ = write!(page, "<h3>{}</h3>", escape(&run.name));
        }
        if run.best.is_empty() {
            page.push_str(r#"<p class="none">No candidate has completed yet.</p>"#);
            continue;
        }
        best_table(page, run);
        for (rank, c) in run.best.iter().enumerate() {
            candidate_card(page, run, rank, c)?;
        }
    }
    page.push_str("</section>");
    Ok(())
}

fn best_table(page: &mut String, run: &RunReport) {
    page.push_str(r#"<div class="scroll"><table><thead><tr><th>rank</th><th>id</th><th>reward</th><th>accuracy</th><th>params</th><th>MACs</th><th>architecture</th></tr></thead><tbody>"#);
    for (rank, c) in run.best.iter().enumerate() {
        let _ = write!(
            page,
            r##"<tr><td>{}</td><td><a href="#{}-c{}">#{}</a></td><td class="n">{:.4}</td><td class="n">{:.2}%</td><td class="n">{}</td><td class="n">{}</td><td class="arch-text">{}</td></tr>"##,
            rank + 1,
            escape(&run.name),
            c.id,
            c.id,
            c.reward,
            accuracy(c) * 100.0,
            count_or_dash(c.params),
            count_or_dash(c.macs),
            escape(&arch_summary(c)),
        );
    }
    page.push_str("</tbody></table></div>");
}

fn count_or_dash(n: u64) -> String {
    if n == 0 {
        "-".into()
    } else {
        plots::short_count(n as f64)
    }
}

fn arch_summary(c: &Candidate) -> String {
    match serde_json::from_value::<crate::arch::Architecture>(c.arch.clone()) {
        Ok(a) => a.summary(),
        Err(_) => c.hash.clone(),
    }
}

fn candidate_card(page: &mut String, run: &RunReport, rank: usize, c: &Candidate) -> Result<()> {
    let _ = write!(
        page,
        r#"<article class="candidate" id="{}-c{}"><h4>{}. candidate #{} <span class="muted">reward {:.4}{}</span></h4><div class="scroll arch-wrap">{}</div>"#,
        escape(&run.name),
        c.id,
        rank + 1,
        c.id,
        c.reward,
        escape(&size_note(c)),
        arch_drawing::draw(&c.arch, &c.decisions, &run.decisions)
    );
    if let Some(svg) = training_plots::epochs(c)? {
        figure(page, &format!("epochs-{}", c.id), &svg, "Validation accuracy after each epoch of its training, its halving rungs, and its finalist training, where those exist.");
    }
    let _ = write!(
        page,
        "<p class=\"export\">{}</p></article>",
        export_line(run, c)
    );
    Ok(())
}

fn export_line(run: &RunReport, c: &Candidate) -> String {
    if run.space_kind == "table" {
        return "A table candidate: its figures come from the table, there is no trained network to export.".into();
    }
    let command = format!("nas export {} --id {}", run.path, c.id);
    if run.exportable.contains(&c.id) {
        format!("Export it: <code>{}</code>", escape(&command))
    } else {
        format!(
            "Export it with <code>{}</code> once its weights are kept: its weights were not kept by this search (search with <code>--keep-top K</code>, or train the best again with <code>nas finalize {}</code>).",
            escape(&command),
            escape(&run.path)
        )
    }
}

fn failures(page: &mut String, report: &Report) {
    section(page, "failures", "Failures");
    for run in &report.runs {
        if report.runs.len() > 1 {
            let _ = write!(page, "<h3>{}</h3>", escape(&run.name));
        }
        let failed: Vec<&Candidate> = run.failures().collect();
        if failed.is_empty() {
            page.push_str(r#"<p class="none">No candidate failed or was rejected.</p>"#);
            continue;
        }
        let digest: Vec<String> = reason_counts(failed.iter().copied())
            .iter()
            .take(3)
            .map(|(r, n)| format!("{n} × {}", escape(r)))
            .collect();
        let _ = write!(
            page,
            "<p>{} candidates failed or were rejected; most often: {}.</p>",
            failed.len(),
            digest.join("; ")
        );
        page.push_str(r#"<div class="scroll"><table><thead><tr><th>id</th><th>status</th><th>reason</th></tr></thead><tbody>"#);
        for c in failed.iter().take(MAX_FAILURES) {
            let _ = write!(
                page,
                r#"<tr><td>#{}</td><td>{}</td><td class="reason">{}</td></tr>"#,
                c.id,
                c.status.as_str(),
                escape(c.reason.as_deref().unwrap_or("no reason recorded"))
            );
        }
        page.push_str("</tbody></table></div>");
        if failed.len() > MAX_FAILURES {
            let _ = write!(
                page,
                r#"<p class="muted">and {} more (<code>nas show {} --json</code> lists them all).</p>"#,
                failed.len() - MAX_FAILURES,
                escape(&run.path)
            );
        }
    }
    page.push_str("</section>");
}
