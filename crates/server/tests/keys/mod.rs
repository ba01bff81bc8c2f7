//! The key directory and to-device messages: publishing, querying and claiming keys, queued
//! and live to-device delivery, device changes, restarts and signing out.

// Publishing, querying and claiming keys, and the directory's limits.
mod directory;
// To-device messages, queued and live; who hears of a device; restarts and signing out.
mod to_device;
