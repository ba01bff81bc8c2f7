//! What the engine tests share: a model of the server's key directory, and the steps that put
//! alice's engine in the states the tests start from.

#![allow(dead_code, unreachable_pub)]

pub mod alice;
mod key_directory;

pub use key_directory::KeyDirectory;
