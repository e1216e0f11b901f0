//! Generated sources: parseable (rustfmt accepts them), with the engine's parameter paths.

use rand::SeedableRng;

use super::*;
use crate::space::Space;

fn source_of(target: ExportTarget) -> String {
    let info = ExportInfo::new("net", &target).unwrap();
    rust_source(&target, &info).unwrap()
}

#[test]
fn every_cell_kind_generates_its_struct_and_the_engine_paths() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for (space, ty) in [
        ("resnet-cells", "ResidualCell"),
        ("bottleneck-cells", "BottleneckCell"),
        ("inception-cells", "InceptionCell"),
        ("dense-cells", "DenseCell"),
        ("mobile-cells", "MobileCell"),
    ] {
        let space = Space::load(space).unwrap();
        let arch = space.decode(&space.sample(&mut rng)).unwrap();
        let text = source_of(ExportTarget::Arch(arch.clone()));
        if std::env::var_os("NAS_EXPORT_DUMP").is_some() {
            println!("{text}");
        }
        assert!(text.contains(&format!("pub struct {ty} {{")), "{text}");
        assert!(text.contains("pub struct Net {"));
        assert!(text.contains("vb.pp(\"stage1.cell1\")"));
        assert!(text.contains(&format!("pub const NUM_CLASSES: usize = {};", arch.classes)));
    }
}

#[test]
fn zoo_nets_generate_one_field_per_layer() {
    let graph = crate::zoo::build("resnet18", [1, 28, 28], 10).unwrap();
    let text = source_of(ExportTarget::Zoo {
        name: "resnet18".into(),
        graph: graph.clone(),
    });
    if std::env::var_os("NAS_EXPORT_DUMP").is_some() {
        println!("{text}");
    }
    assert!(text.contains("layer1_0_conv1: Conv2d,"));
    assert!(text.contains("vb.pp(\"layer1.0.conv1\")"));
    assert!(text.contains("fn max_pool("));
    let lets = text.matches("; // ").count();
    assert_eq!(lets, graph.nodes.len() - 1, "one statement per node");
}
