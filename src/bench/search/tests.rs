//! Tests of the strategy comparison on the toy table.
