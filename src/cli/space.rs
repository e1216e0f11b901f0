//! `nas space list|show|sample`.

use anyhow::Result;
use clap::Subcommand;
use nas::space::{shipped, Space};
use rand::SeedableRng;
use serde_json::json;

use super::table::{print_json, render, thousands};

#[derive(Subcommand, Debug)]
pub enum SpaceCommand {
    /// The shipped search spaces: name, cell kinds, decisions, size.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Every decision of a space with its choices, and the exact number of architectures.
    Show {
        /// A shipped name (`resnet-cells`) or a path to a .toml file.
        space: String,
        #[arg(long)]
        json: bool,
    },
    /// Random architectures of a space with their hash, parameters and MACs.
    #[command(allow_negative_numbers = true)]
    Sample {
        space: String,
        #[arg(short = 'n', long, default_value_t = 5, value_parser = super::values::positive_usize)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: SpaceCommand) -> Result<()> {
    match cmd {
        SpaceCommand::List { json } => list(json),
        SpaceCommand::Show { space, json } => show(&Space::load(&space)?, json),
        SpaceCommand::Sample {
            space,
            n,
            seed,
            json,
        } => sample(&Space::load(&space)?, n, seed, json),
    }
}

fn list(json: bool) -> Result<()> {
    let spaces = shipped()?;
    let rows: Vec<serde_json::Value> = spaces
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "kind": s.kind(), "cells": s.cell_kinds(),
                "decisions": s.decisions().len(), "size": s.size().to_string(),
                "description": s.description,
            })
        })
        .collect();
    if json {
        return print_json(&rows);
    }
    let table: Vec<Vec<String>> = spaces
        .iter()
        .map(|s| {
            let kinds = if s.kind() == "table" {
                "(table)".into()
            } else {
                s.cell_kinds().join(",")
            };
            vec![
                s.name.clone(),
                kinds,
                s.decisions().len().to_string(),
                short_size(&s.size()),
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["NAME", "CELLS", "DECISIONS", "ARCHITECTURES"], &table)
    );
    Ok(())
}

fn short_size(n: &num_bigint::BigUint) -> String {
    let s = n.to_string();
    if s.len() <= 15 {
        s
    } else {
        format!("{}.{}e{}", &s[..1], &s[1..3], s.len() - 1)
    }
}

fn show(space: &Space, json: bool) -> Result<()> {
    if json {
        return print_json(&json!({
            "name": space.name, "kind": space.kind(), "path": space.path,
            "description": space.description, "cells": space.cell_kinds(),
            "decisions": space.decisions(), "size": space.size().to_string(),
        }));
    }
    println!(
        "{} ({}): {}",
        space.name,
        space.path.display(),
        space.description
    );
    println!(
        "{} decisions, {} architectures",
        space.decisions().len(),
        space.size()
    );
    let rows: Vec<Vec<String>> = space
        .decisions()
        .iter()
        .map(|d| vec![d.name.clone(), d.options.join(" | ")])
        .collect();
    print!("{}", render(&["DECISION", "CHOICES"], &rows));
    Ok(())
}

fn sample(space: &Space, n: usize, seed: u64, json: bool) -> Result<()> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut items = Vec::new();
    for _ in 0..n {
        let decisions = space.sample(&mut rng);
        let arch = space.decode(&decisions)?;
        let graph = arch.lower()?;
        items.push(json!({
            "decisions": decisions, "hash": arch.hash(), "params": graph.params(),
            "macs": graph.macs(), "summary": arch.summary(), "arch": arch,
        }));
    }
    if json {
        return print_json(&items);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i["hash"].as_str().unwrap_or("").to_string(),
                thousands(i["params"].as_u64().unwrap_or(0)),
                thousands(i["macs"].as_u64().unwrap_or(0)),
                i["summary"].as_str().unwrap_or("").to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["HASH", "PARAMS", "MACS", "ARCHITECTURE"], &rows)
    );
    Ok(())
}
