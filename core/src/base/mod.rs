//! What every layer uses: virtual time and the timer wheel, the seeded RNG, the slab, Linux's
//! errno, sysctls and MIB counters, and shared constants.

pub mod consts;
pub mod errno;
pub mod mib;
pub mod rng;
pub mod seq;
pub mod slab;
pub mod sysctl;
pub mod time;
pub mod timer_wheel;
