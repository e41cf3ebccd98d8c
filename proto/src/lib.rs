//! The public contracts of fengqiao, generated once from `proto/` (the only copy
//! in the workspace): messages, gRPC clients and servers, and events.

#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]

mod event;

pub use event::{Event, EventKind};

/// `fengqiao.*` packages.
pub mod fengqiao {
    /// Types shared by every API.
    pub mod common {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.common.v1.rs"));
        }
    }
    /// Event payloads published on the bus.
    pub mod events {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.events.v1.rs"));
        }
    }
    /// Intake's API.
    pub mod intake {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.intake.v1.rs"));
        }
    }
    /// Routing's API.
    pub mod routing {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.routing.v1.rs"));
        }
    }
    /// Mediation's API.
    pub mod mediation {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.mediation.v1.rs"));
        }
    }
    /// Court linkage's API.
    pub mod court {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.court.v1.rs"));
        }
    }
    /// Petition linkage's API.
    pub mod petition {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.petition.v1.rs"));
        }
    }
    /// Alarms, leader ownership, supervision notices and figures.
    pub mod supervision {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.supervision.v1.rs"));
        }
    }
    /// The agency-facing gateway's API.
    pub mod gateway {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/fengqiao.gateway.v1.rs"));
        }
    }
}

/// Vendored Google API annotations (HTTP mapping of the agency API).
pub mod google {
    /// `google.api`.
    pub mod api {
        include!(concat!(env!("OUT_DIR"), "/google.api.rs"));
    }
}

/// The encoded `FileDescriptorSet` of every contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fengqiao_descriptor.bin"));
