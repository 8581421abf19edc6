//! pcap files of what links carried: raw IPv4 link type (LINKTYPE_IPV4, 228), nanosecond
//! timestamps counted from the simulation's epoch, little-endian, so that equal runs give
//! equal bytes.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use synq_core::{Duration, Instant};

/// A datagram as captured: when it entered the link, and its bytes.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub at: Instant,
    pub bytes: Vec<u8>,
}

/// Writes `packets` as a complete pcap file.
pub(crate) fn pcap_bytes<'a>(packets: impl IntoIterator<Item = &'a Captured>) -> Vec<u8> {
    let header = PcapHeader {
        datalink: DataLink::IPV4,
        ts_resolution: TsResolution::NanoSecond,
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).expect("writing to a Vec cannot fail");
    for p in packets {
        let ts = Duration::from_nanos(p.at.as_nanos());
        let packet = PcapPacket::new(ts, p.bytes.len() as u32, &p.bytes);
        writer.write_packet(&packet).expect("writing to a Vec cannot fail");
    }
    writer.into_writer()
}
