//! The UDP uplink: frames leave and enter the switch as datagrams.

use super::*;
use std::net::UdpSocket;

#[test]
fn udp_uplink_round_trip() {
    // The far end of the link: the test's own socket.
    let far = UdpSocket::bind("127.0.0.1:0").unwrap();
    far.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The back-end's end: a port picked by the OS, learned from its first
    // datagram.
    let remote = far.local_addr().unwrap().to_string();
    let backend = start(&["--udp-local", "127.0.0.1:0", "--udp-remote", &remote]);
    let mut a = connect(&backend);
    let out = frame(BROADCAST, mac(1), &pattern(1400, 3));
    a.send(&out).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, from) = far.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], &out[..], "the frame is the whole datagram");
    // Back in through the uplink to a's learned address.
    let back = frame(mac(1), mac(9), &pattern(600, 4));
    far.send_to(&back, from).unwrap();
    assert_eq!(a.recv().unwrap(), back);
    // Datagrams from anywhere else are not frames of this link.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger
        .send_to(&frame(mac(1), mac(8), b"not from the remote"), from)
        .unwrap();
    let again = frame(mac(1), mac(9), b"from the remote");
    far.send_to(&again, from).unwrap();
    assert_eq!(a.recv().unwrap(), again);
    let st = backend.terminate().unwrap();
    assert!(st.success(), "{st}");
}
