//! The course's networks beyond the points classifier of [`nn::Network`](crate::nn::Network):
//! each a [`Module`](crate::module::Module), so checkpoints, evaluation and the optimizer work
//! on them alike: [`mnist`] classifies digits, [`sentiment`] the sentences of SST-2.

pub mod mnist;
pub mod sentiment;
