//! A virtio-net switch for `vu-backend`: QEMU's vhost-user-bridge, portable.
//!
//! # Design
//!
//! Every front-end that connects gets a port ([`port::NetPort`], one
//! `vu_backend::Device` per connection, each connection on a thread of its
//! own through `vu_backend::serve_each`). Ports share one [`switch::Switch`],
//! which learns source addresses and forwards each frame to the port its
//! destination was seen on, or floods it (broadcast, multicast, unknown).
//! An optional uplink is one more port ([`uplink::Uplink`]): a UDP socket
//! ([`uplink::udp`], the counterpart of QEMU's `-netdev dgram`; one datagram
//! is one frame) or, on Linux and the BSDs, a tap interface of the host
//! ([`uplink::tap`]).
//!
//! * Features: mergeable receive buffers (`VIRTIO_NET_F_MRG_RXBUF`), so a
//!   frame may span receive buffers. No checksum or segmentation offloads,
//!   no control queue, one queue pair (no `MQ`): a transmit header that asks
//!   for an offload closes the connection, as do frames shorter than an
//!   Ethernet header or longer than [`switch::MAX_FRAME`].
//! * Memory a guest can make the back-end hold is bounded: a port's inbox
//!   ([`port::INBOX_FRAMES`], [`port::INBOX_BYTES`]; a full one drops), the
//!   address table ([`switch::MAX_ADDRESSES`]), one frame buffer per port,
//!   and the connections themselves (`--max-ports`).
#![forbid(unsafe_code)]

pub mod port;
pub mod switch;
pub mod uplink;
