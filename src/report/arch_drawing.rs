//! A drawing of one candidate's architecture as an SVG diagram: the stem, each stage as a
//! frame around its cells (boxes, left to right, in data-flow order), the skip connections as
//! arcs above the cells, and the classifier. A table candidate is drawn as its row of
//! decisions. It is a diagram, not a chart, so it is laid out here rather than by `plotters`.

use std::fmt::Write;

use crate::arch::{Architecture, Block, Cell, Reduce, Stage};

use super::html::escape;

const BOX_W: f64 = 104.0;
const BOX_H: f64 = 50.0;
const GAP: f64 = 30.0;
const PAD: f64 = 14.0;
/// Top of the cell boxes: room above for the stage label and the skip arcs.
const CELL_Y: f64 = 96.0;

/// The drawing of a candidate's stored architecture (a cell architecture's JSON, or a table
/// candidate's decisions with the names and choices of its space's decisions).
pub fn draw(
    arch: &serde_json::Value,
    decisions: &[usize],
    names: &[(String, Vec<String>)],
) -> String {
    match serde_json::from_value::<Architecture>(arch.clone()) {
        Ok(a) => draw_cells(&a),
        Err(_) => draw_table(decisions, names),
    }
}

/// Builds the SVG as boxes and arrows placed left to right.
struct Canvas {
    body: String,
    x: f64,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas {
            body: String::new(),
            x: PAD,
        }
    }

    /// A box at the cursor with a bold title and a detail line; returns its left x.
    fn node(&mut self, title: &str, detail: &str, class: &str) -> f64 {
        let x = self.x;
        let (cx, y) = (x + BOX_W / 2.0, CELL_Y);
        let _ = write!(
            self.body,
            r#"<g class="{class}"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="7"/><text x="{cx}" y="{}" class="t">{}</text><text x="{cx}" y="{}" class="d">{}</text></g>"#,
            y + 21.0,
            escape(title),
            y + 38.0,
            escape(detail)
        );
        self.x += BOX_W;
        x
    }

    /// A straight arrow from the cursor across the next gap.
    fn arrow(&mut self) {
        let y = CELL_Y + BOX_H / 2.0;
        let _ = write!(
            self.body,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" class="flow" marker-end="url(#head)"/>"#,
            self.x,
            self.x + GAP - 2.0
        );
        self.x += GAP;
    }

    /// An arc above the boxes from `from` (an x on the data path) into the top of a box at `to`.
    fn skip(&mut self, from: f64, to: f64) {
        let top = CELL_Y - 16.0 - ((to - from) / (BOX_W + GAP)).min(3.0) * 11.0;
        let _ = write!(
            self.body,
            r#"<path d="M{from} {} C{from} {top} {to} {top} {to} {}" class="skip" marker-end="url(#skiphead)"/>"#,
            CELL_Y + BOX_H / 2.0,
            CELL_Y - 2.0
        );
    }

    /// The finished SVG, showing heights from `top` down to `bottom`.
    fn finish(self, top: f64, bottom: f64, label: &str) -> String {
        let width = self.x + PAD;
        let height = bottom - top;
        format!(
            r##"<svg class="arch" viewBox="0 {top} {width} {height}" width="{width}" height="{height}" style="min-width:{}px" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L10 5L0 10z" fill="#555"/></marker><marker id="skiphead" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L10 5L0 10z" fill="#c81e2d"/></marker></defs>{}</svg>"##,
            (width * 0.6).round(),
            escape(label),
            self.body
        )
    }
}

fn draw_cells(arch: &Architecture) -> String {
    let mut canvas = Canvas::new();
    let [c, h, w] = arch.input;
    canvas.node("input", &format!("{c}×{h}×{w}"), "io");
    canvas.arrow();
    canvas.node(
        "stem",
        &format!("conv{k} → {}", arch.stem.channels, k = arch.stem.kernel),
        "stem",
    );
    for (s, stage) in arch.stages.iter().enumerate() {
        canvas.arrow();
        draw_stage(&mut canvas, s, stage);
    }
    canvas.arrow();
    canvas.node("classifier", &format!("pool, fc {}", arch.classes), "io");
    canvas.finish(0.0, CELL_Y + BOX_H + PAD + 8.0, &arch.summary())
}

fn draw_stage(canvas: &mut Canvas, s: usize, stage: &Stage) {
    let left = canvas.x;
    // a stride reduction has no box of its own: its first cell shows the stride
    if let Some(reduce) = stage.reduce.filter(|r| *r != Reduce::Stride) {
        let detail = match reduce {
            Reduce::Conv => "conv3 /2",
            Reduce::MaxPool => "max pool /2",
            Reduce::Transition | Reduce::Stride => "transition /2",
        };
        canvas.node("reduce", detail, "reduce");
        canvas.arrow();
    }
    // anchor 0 is the stage input (where the first cell starts), anchor k the output of cell k-1
    let mut anchors = vec![canvas.x - GAP / 2.0];
    let mut starts = Vec::new();
    for (i, cell) in stage.cells.iter().enumerate() {
        if i > 0 {
            canvas.arrow();
        }
        let (title, detail) = cell_text(cell);
        starts.push(canvas.node(&title, &detail, &format!("cell {}", cell.block.kind())));
        anchors.push(canvas.x);
    }
    for (i, cell) in stage.cells.iter().enumerate() {
        for &a in cell.skips.iter().filter(|&&a| a < i) {
            canvas.skip(
                anchors[a] + if a == 0 { 0.0 } else { -8.0 },
                starts[i] + 22.0,
            );
        }
    }
    let right = canvas.x;
    let top = 8.0;
    let frame = format!(
        r#"<rect x="{}" y="{top}" width="{}" height="{}" rx="10" class="stage"/><text x="{}" y="{}" class="sl">stage {} · {} ch</text>"#,
        left - 8.0,
        right - left + 16.0,
        CELL_Y + BOX_H + 10.0 - top,
        left,
        top + 17.0,
        s + 1,
        stage.channels
    );
    canvas
        .body
        .insert_str(frame_insert_point(&canvas.body, left), &frame);
}

/// Where a stage's frame goes in the body: before its first box, so the boxes draw on top.
fn frame_insert_point(body: &str, left: f64) -> usize {
    let needle = format!(r#"<rect x="{left}" "#);
    body.find(&needle)
        .and_then(|at| body[..at].rfind("<g "))
        .unwrap_or(body.len())
}

fn cell_text(cell: &Cell) -> (String, String) {
    match cell.block {
        Block::Residual {
            kernel,
            out,
            preact,
        } => (kind("residual", preact), format!("k{kernel} · {out} ch")),
        Block::Bottleneck {
            kernel,
            out,
            expansion,
            groups,
            preact,
        } => (
            kind("bottleneck", preact),
            format!(
                "k{kernel} · {out} ch · e{expansion}{}",
                if groups > 1 {
                    format!(" g{groups}")
                } else {
                    String::new()
                }
            ),
        ),
        Block::Inception {
            kernel,
            out,
            branches,
        } => (
            "inception".into(),
            format!("k{kernel} · {out} ch · {branches} br"),
        ),
        Block::Dense {
            kernel,
            growth,
            layers,
        } => ("dense".into(), format!("k{kernel} · {layers}×{growth}")),
        Block::Fire {
            kernel,
            squeeze,
            expand1,
            expand3,
        } => (
            "fire".into(),
            format!("k{kernel} · s{squeeze} → {expand1}+{expand3} ch"),
        ),
        Block::Fractal {
            kernel,
            out,
            columns,
        } => (
            "fractal".into(),
            format!("k{kernel} · {out} ch · {columns} col"),
        ),
        Block::Mobile {
            kernel,
            out,
            expansion,
            se,
            stride,
        } => (
            (if se { "mobile (SE)" } else { "mobile" }).into(),
            format!(
                "k{kernel} · {out} ch · e{expansion}{}",
                if stride > 1 {
                    format!(" /{stride}")
                } else {
                    String::new()
                }
            ),
        ),
    }
}

/// A cell kind's name, marked when it is pre-activated (BN, ReLU, conv: ResNet v2).
fn kind(name: &str, preact: bool) -> String {
    if preact {
        format!("{name} (pre-act)")
    } else {
        name.to_string()
    }
}

fn draw_table(decisions: &[usize], names: &[(String, Vec<String>)]) -> String {
    let mut canvas = Canvas::new();
    for (i, &value) in decisions.iter().enumerate() {
        if i > 0 {
            canvas.arrow();
        }
        let (name, choice) = match names.get(i) {
            Some((name, choices)) => (
                name.clone(),
                choices
                    .get(value)
                    .cloned()
                    .unwrap_or_else(|| value.to_string()),
            ),
            None => (format!("decision {}", i + 1), value.to_string()),
        };
        canvas.node(&name, &choice, "cell");
    }
    let label = format!("decisions {decisions:?}");
    canvas.finish(CELL_Y - PAD, CELL_Y + BOX_H + PAD, &label)
}
