//! What an export is made from: the network (a searched architecture or a zoo graph) and the
//! facts that go into the generated file's header and its input normalisation.

use crate::arch::Architecture;
use crate::error::Result;
use crate::graph::Graph;

/// The network to export.
#[derive(Clone, Debug)]
pub enum ExportTarget {
    /// A searched architecture: exported as one struct per cell kind.
    Arch(Architecture),
    /// A zoo network by name: exported as a walk over its graph with one field per layer.
    Zoo { name: String, graph: Graph },
}

impl ExportTarget {
    /// The op graph of the target (lowered for an architecture).
    pub fn graph(&self) -> Result<Graph> {
        match self {
            ExportTarget::Arch(arch) => arch.lower(),
            ExportTarget::Zoo { graph, .. } => Ok(graph.clone()),
        }
    }
}

/// Per-channel statistics the inputs were normalised by in training: `(v / 255 - mean) / std`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalisation {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// The facts written into the generated file's header.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportInfo {
    /// Module and file name (`candidate_17`, `resnet18`), a Rust identifier.
    pub name: String,
    /// Learned parameters.
    pub params: u64,
    /// Conv and linear multiply-accumulates per image.
    pub macs: u64,
    /// Validation accuracy (0..1) of a trained candidate.
    pub val_acc: Option<f64>,
    /// The run folder a candidate came from.
    pub run: Option<String>,
    /// The candidate's id within its run.
    pub candidate: Option<u64>,
    /// How the export was made (a command line or a sentence).
    pub generated_by: String,
    /// The version of nas that generated the code.
    pub nas_version: String,
    /// The training split's statistics; `None` leaves inputs on the 0..1 scale.
    pub normalisation: Option<Normalisation>,
    /// How the weights were trained, when that is worth saying (a finalist's training).
    pub weights_note: Option<String>,
    /// One name per class, in label order; `None` names classes by their numbers.
    pub class_names: Option<Vec<String>>,
}

impl ExportInfo {
    /// Header facts for `target` counted from its graph, with nothing known about its origin.
    pub fn new(name: &str, target: &ExportTarget) -> Result<ExportInfo> {
        let graph = target.graph()?;
        Ok(ExportInfo {
            name: identifier(name),
            params: graph.params(),
            macs: graph.macs(),
            val_acc: None,
            run: None,
            candidate: None,
            generated_by: "nas export".into(),
            nas_version: env!("CARGO_PKG_VERSION").into(),
            normalisation: None,
            weights_note: None,
            class_names: None,
        })
    }
}

/// Options of the file-writing entry points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportOptions {
    /// Also write a ready crate around the module (`DIR/NAME/`).
    pub with_crate: bool,
    /// Input statistics for the generated code; see [`Normalisation`].
    pub normalisation: Option<Normalisation>,
    /// The command line to record in the header (default: `nas export`).
    pub generated_by: Option<String>,
    /// Class names for the generated code (default: the class numbers).
    pub class_names: Option<Vec<String>>,
}

/// `text` as a Rust identifier: lower case, `_` for anything else, never starting with a digit.
pub fn identifier(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'n');
    }
    if RESERVED.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Keywords and the names generated code gives its own arguments.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "xs",
    "vb",
    "train",
    "main",
    "std",
    "core",
    "candle_core",
    "candle_nn",
];

#[cfg(test)]
mod tests {
    use super::identifier;

    #[test]
    fn identifiers_are_valid_rust_names() {
        assert_eq!(identifier("my-arch"), "my_arch");
        assert_eq!(identifier("layer1.0.conv1"), "layer1_0_conv1");
        assert_eq!(identifier("17"), "n17");
        assert_eq!(identifier("type"), "type_");
        assert_eq!(identifier("train"), "train_");
    }
}
