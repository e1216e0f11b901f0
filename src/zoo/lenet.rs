//! LeNet-5 (LeCun et al., "Gradient-based learning applied to document recognition", 1998)
//! in its common modern form: ReLU instead of scaled tanh, max pooling instead of trainable
//! sub-sampling, full C3 connectivity and a plain linear output instead of RBF units.
//! At 1x32x32 and 10 classes: 61,706 parameters, 416,520 MACs.

use crate::error::Result;
use crate::graph::{Conv, Graph, Op, Pool};

/// LeNet-5; at inputs other than 32x32 the first linear layer is sized from the final map.
pub(super) fn lenet5(input: [usize; 3], classes: usize) -> Result<Graph> {
    let mut g = Graph::new("lenet5", input);
    let mut x = 0;
    for (name, out) in [("conv1", 6), ("conv2", 16)] {
        x = g.conv(name, x, Conv::same(out, 5).padding(0).bias(true))?;
        x = g.relu(x)?;
        x = g.max_pool(x, Pool::new(2, 2))?;
    }
    x = g.unary(Op::Flatten, x)?;
    x = g.linear("fc1", x, 120)?;
    x = g.relu(x)?;
    x = g.linear("fc2", x, 84)?;
    x = g.relu(x)?;
    g.linear("fc3", x, classes)?;
    Ok(g)
}
