//! Checks of the zoo against torchvision's counts, and forward passes at small inputs.

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::*;
use crate::child::ChildNet;
use crate::graph::{Op, Shape};

/// Parameters and conv+linear MACs at the standard input, from torchvision 0.19:
///
/// ```python
/// import torch, torchvision.models as m
/// def macs(net, shape):
///     total = 0
///     def hook(mod, inp, out):
///         nonlocal total
///         if isinstance(mod, torch.nn.Conv2d):
///             total += out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
///         elif isinstance(mod, torch.nn.Linear):
///             total += mod.in_features * mod.out_features
///     for x in net.modules(): x.register_forward_hook(hook)
///     net.eval()(torch.zeros(1, *shape)); return total
/// for name in ["alexnet", "vgg16", "resnet18", ...]:
///     net = getattr(m, name)(); print(name, sum(p.numel() for p in net.parameters()), macs(net, (3, 224, 224)))
/// # googlenet: m.googlenet(aux_logits=False, init_weights=True)
/// ```
const REFERENCE: &[(&str, u64, u64)] = &[
    ("lenet5", 61_706, 416_520),
    ("alexnet", 61_100_840, 714_188_480),
    ("vgg16", 138_357_544, 15_470_264_320),
    ("googlenet", 6_624_904, 1_498_376_192),
    ("resnet18", 11_689_512, 1_814_073_344),
    ("resnet50", 25_557_032, 4_089_184_256),
    ("densenet121", 7_978_856, 2_834_161_664),
    ("resnext50_32x4d", 25_028_904, 4_230_479_872),
    ("wide_resnet50_2", 68_883_240, 11_398_021_120),
    ("mobilenet_v2", 3_504_872, 300_774_272),
    ("squeezenet1_1", 1_235_496, 349_151_936),
    ("vgg19", 143_667_240, 19_632_062_464),
    ("resnet152", 60_192_808, 11_513_626_624),
    ("squeezenet1_0", 1_248_424, 818_924_576),
    ("zfnet", ZFNET_PARAMS, ZFNET_MACS),
    ("efficientnet_b0", 5_288_548, 385_814_752),
];

/// ZFNet (no torchvision reference), from figure 3 of Zeiler & Fergus 2013 at 3x224x224:
/// conv1 96x3x7x7 at 110x110, conv2 256x96x5x5 at 26x26, conv3 384x256x3x3, conv4
/// 384x384x3x3 and conv5 256x384x3x3 at 13x13, all with biases; fc6 9216 -> 4096,
/// fc7 4096 -> 4096, fc8 4096 -> 1000.
const ZFNET_PARAMS: u64 = (96 * 3 * 49 + 96)
    + (256 * 96 * 25 + 256)
    + (384 * 256 * 9 + 384)
    + (384 * 384 * 9 + 384)
    + (256 * 384 * 9 + 256)
    + (9216 * 4096 + 4096)
    + (4096 * 4096 + 4096)
    + (4096 * 1000 + 1000);
const ZFNET_MACS: u64 = 96 * 110 * 110 * 3 * 49
    + 256 * 26 * 26 * 96 * 25
    + (384 * 256 + 384 * 384 + 256 * 384) * 13 * 13 * 9
    + 9216 * 4096
    + 4096 * 4096
    + 4096 * 1000;

#[test]
fn zfnet_has_the_papers_sixty_two_million_parameters() {
    assert_eq!(ZFNET_PARAMS, 62_357_608);
    assert_eq!(ZFNET_MACS, 1_168_032_896);
}

#[test]
fn every_net_matches_torchvision_params_and_macs_exactly() {
    assert_eq!(REFERENCE.len(), names().len());
    for &(name, params, macs) in REFERENCE {
        let (input, classes) = standard_input(name).unwrap();
        let g = build(name, input, classes).unwrap();
        assert_eq!(g.params(), params, "{name} params");
        assert_eq!(g.macs(), macs, "{name} MACs");
        assert_eq!(g.classes(), classes, "{name} classes");
    }
}

#[test]
fn the_name_list_and_the_table_agree() {
    let table: Vec<&str> = ZOO.iter().map(|e| e.name).collect();
    assert_eq!(table, names());
}

#[test]
fn unknown_names_are_refused_with_the_known_ones() {
    let err = build("resnet1000", [3, 224, 224], 10).unwrap_err();
    assert!(matches!(err, Error::UnknownZoo { .. }), "{err}");
    assert!(err.to_string().contains("squeezenet1_1"), "{err}");
    assert!(standard_input("nope").is_err());
}

#[test]
fn every_net_builds_at_its_small_input_with_the_classes_asked_for() {
    for name in names() {
        let input = small_input(name).unwrap();
        let g = build(name, input, 10).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(g.classes(), 10, "{name}");
        assert_eq!(g.input(), input, "{name}");
    }
}

#[test]
fn the_required_nets_run_on_mnist_or_cifar_sized_inputs() {
    let nets = [
        "lenet5",
        "resnet18",
        "resnet50",
        "mobilenet_v2",
        "densenet121",
        "squeezenet1_1",
        "googlenet",
        "vgg16",
    ];
    for name in nets {
        let input = small_input(name).unwrap();
        assert!(
            input == [1, 28, 28] || input == [3, 32, 32],
            "{name}: {input:?}"
        );
    }
    build("resnet18", [1, 28, 28], 10).unwrap();
}

#[test]
fn too_small_inputs_are_refused_with_the_smallest_that_works() {
    let err = build("alexnet", [1, 28, 28], 10).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Invalid { .. }), "{msg}");
    assert!(msg.contains("alexnet") && msg.contains("63x63"), "{msg}");
    build("alexnet", [1, 63, 63], 10).unwrap();
    let msg = build("densenet121", [1, 28, 28], 10)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("29x29"), "{msg}");
}

/// The shape that reaches the first linear layer of a net.
fn classifier_input(g: &crate::graph::Graph) -> Shape {
    let first = g.nodes.iter().find(|n| matches!(n.op, Op::Linear { .. }));
    g.shape(first.expect("a linear layer").inputs[0])
}

#[test]
fn adaptive_pools_are_identity_at_224_pool_multiples_and_keep_other_maps_but_alexnets() {
    let at = |name, side| classifier_input(&build(name, [3, side, side], 10).unwrap());
    assert_eq!(at("vgg16", 224), Shape::Flat(512 * 7 * 7));
    assert_eq!(at("vgg16", 448), Shape::Flat(512 * 7 * 7));
    assert_eq!(at("vgg16", 32), Shape::Flat(512));
    assert_eq!(at("alexnet", 224), Shape::Flat(256 * 6 * 6));
    // AlexNet has torchvision's adaptive pool itself: a 1x1 map is spread to 6x6
    assert_eq!(at("alexnet", 64), Shape::Flat(256 * 6 * 6));
    assert_eq!(at("lenet5", 28), Shape::Flat(16 * 4 * 4));
}

#[test]
fn every_net_gives_finite_logits_for_a_batch_of_two_in_train_and_eval_mode() {
    let device = Device::Cpu;
    for name in names() {
        let input = small_input(name).unwrap();
        let g = build(name, input, 10).unwrap();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let net = ChildNet::new(&g, vb).unwrap();
        let [c, h, w] = input;
        let xs = Tensor::randn(0f32, 1f32, (2, c, h, w), &device).unwrap();
        for train in [true, false] {
            let logits = net.forward_t(&xs, train).unwrap();
            assert_eq!(logits.dims(), &[2, 10], "{name} train={train}");
            let values: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
            assert!(
                values.iter().all(|v| v.is_finite()),
                "{name} train={train}: {values:?}"
            );
        }
    }
}
