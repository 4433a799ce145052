//! `recvmmsg` and `sendmmsg` over nix: many datagrams per system call.

use nix::sys::socket::{
    recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// The reactor's one receive area: `n` buffers of `size` bytes and their headers,
/// reused by every socket's every batch.
#[derive(Debug)]
pub(crate) struct RecvBatch {
    buf: Vec<u8>,
    size: usize,
    n: usize,
    /// The last batch: (bytes, sender, truncated) of each datagram read.
    metas: Vec<(usize, Option<SocketAddr>, bool)>,
}

impl RecvBatch {
    /// Room for `n` datagrams of `size` bytes each.
    pub(crate) fn new(n: usize, size: usize) -> RecvBatch {
        let (n, size) = (n.max(1), size.max(1));
        RecvBatch {
            buf: vec![0; n * size],
            size,
            n,
            metas: Vec::with_capacity(n),
        }
    }

    /// How many datagrams of how many bytes it holds.
    pub(crate) fn capacity(&self) -> (usize, usize) {
        (self.n, self.size)
    }

    /// Whether it can hold `n` datagrams of `size` bytes.
    pub(crate) fn fits(&self, n: usize, size: usize) -> bool {
        self.n >= n && self.size >= size
    }

    /// One `recvmmsg` of at most `want` datagrams of at most `size` bytes: how many
    /// were read (`WouldBlock` when none waited).
    pub(crate) fn recv(&mut self, fd: RawFd, want: usize, size: usize) -> io::Result<usize> {
        self.metas.clear();
        let size = size.clamp(1, self.size);
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = self
            .buf
            .chunks_mut(self.size)
            .take(want.clamp(1, self.n))
            .map(|c| [IoSliceMut::new(&mut c[..size])])
            .collect();
        // Made per batch (a few KiB): nix's headers hold raw pointers, which would make
        // the reactor that keeps them impossible to move to another thread.
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), None);
        let got = recvmmsg(
            fd,
            &mut headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        for m in got {
            let truncated = m.flags.contains(MsgFlags::MSG_TRUNC);
            self.metas
                .push((m.bytes.min(size), m.address.and_then(to_std), truncated));
        }
        Ok(self.metas.len())
    }

    /// Datagram `i` of the last batch: its bytes, its sender, whether it was cut.
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], Option<SocketAddr>, bool)> {
        let &(len, peer, truncated) = self.metas.get(i)?;
        let start = i * self.size;
        Some((self.buf.get(start..start + len)?, peer, truncated))
    }
}

/// The standard address of a socket address the kernel gave (IPv4 or IPv6).
fn to_std(s: SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// One `sendmmsg` of `items`: how many went out (from the first; `WouldBlock` when the
/// first would block, another error when the first failed).
pub(crate) fn send(fd: RawFd, items: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let addrs: Vec<Option<SockaddrStorage>> = items
        .iter()
        .map(|(a, _)| Some(SockaddrStorage::from(*a)))
        .collect();
    let iovs: Vec<[IoSlice<'_>; 1]> = items.iter().map(|(_, d)| [IoSlice::new(d)]).collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(items.len(), None);
    let none: [ControlMessage<'_>; 0] = [];
    let sent = sendmmsg(
        fd,
        &mut headers,
        iovs.iter(),
        &addrs,
        none,
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    Ok(sent.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn test_a_batch_is_read_and_sent_in_one_call_each() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let msgs: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let items: Vec<(SocketAddr, &[u8])> = msgs.iter().map(|m| (to, &m[..])).collect();
        assert_eq!(send(a.as_raw_fd(), &items).unwrap(), 5);
        let mut batch = RecvBatch::new(8, 12);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(batch.recv(b.as_raw_fd(), 8, 12).unwrap(), 5);
        for i in 0..5 {
            let (data, peer, cut) = batch.get(i).unwrap();
            assert_eq!(peer, Some(a.local_addr().unwrap()));
            assert_eq!(data, &msgs[i][..msgs[i].len().min(12)]);
            assert_eq!(cut, msgs[i].len() > 12, "datagram {i}");
        }
        let e = batch.recv(b.as_raw_fd(), 8, 12).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
