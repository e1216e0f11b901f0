//! `nas zoo list|show`: the classic architectures as graphs.

use anyhow::Result;
use clap::Subcommand;
use nas::graph::Graph;
use nas::zoo;
use serde_json::json;

use super::shape::parse_input;
use super::table::{print_json, render, thousands};

#[derive(Subcommand, Debug)]
pub enum ZooCommand {
    /// Each zoo network with its parameters and conv+linear MACs at its standard input.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A zoo network's layers with output shapes, parameters and MACs.
    #[command(allow_negative_numbers = true)]
    Show {
        name: String,
        /// Input shape CxHxW (default: the network's standard input).
        #[arg(long)]
        input: Option<String>,
        /// Number of classes (default: the network's standard count).
        #[arg(long, value_parser = super::values::class_count)]
        classes: Option<usize>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ZooCommand) -> Result<()> {
    match cmd {
        ZooCommand::List { json } => list(json),
        ZooCommand::Show {
            name,
            input,
            classes,
            json,
        } => {
            let (std_input, std_classes) = zoo::standard_input(&name)?;
            let input = input
                .map(|s| parse_input(&s))
                .transpose()?
                .unwrap_or(std_input);
            let graph = zoo::build(&name, input, classes.unwrap_or(std_classes))?;
            show(&graph, json)
        }
    }
}

fn list(json: bool) -> Result<()> {
    let mut items = Vec::new();
    for name in zoo::names() {
        let (input, classes) = zoo::standard_input(name)?;
        let g = zoo::build(name, input, classes)?;
        items.push(json!({
            "name": name, "input": input, "classes": classes,
            "params": g.params(), "macs": g.macs(),
        }));
    }
    if json {
        return print_json(&items);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let input: Vec<String> = i["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.to_string())
                .collect();
            vec![
                i["name"].as_str().unwrap_or("").to_string(),
                input.join("x"),
                thousands(i["params"].as_u64().unwrap_or(0)),
                thousands(i["macs"].as_u64().unwrap_or(0)),
            ]
        })
        .collect();
    print!("{}", render(&["NAME", "INPUT", "PARAMS", "MACS"], &rows));
    Ok(())
}

fn show(g: &Graph, json: bool) -> Result<()> {
    let layers: Vec<serde_json::Value> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "name": n.name, "op": n.op, "inputs": n.inputs, "shape": n.shape,
                "params": g.node_params(i), "macs": g.node_macs(i),
            })
        })
        .collect();
    if json {
        return print_json(&json!({
            "name": g.name, "input": g.input(), "classes": g.classes(),
            "params": g.params(), "macs": g.macs(), "layers": layers,
        }));
    }
    let rows: Vec<Vec<String>> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            vec![
                n.name.clone(),
                n.op.kind().to_string(),
                n.shape.to_string(),
                thousands(g.node_params(i)),
                thousands(g.node_macs(i)),
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["LAYER", "OP", "OUTPUT", "PARAMS", "MACS"], &rows)
    );
    println!(
        "total: {} parameters, {} MACs",
        thousands(g.params()),
        thousands(g.macs())
    );
    Ok(())
}
