//! What one UDP socket counted.

/// The counters of one UDP socket since it was bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Their bytes (as read: a truncated datagram's kept part).
    pub bytes_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Their bytes.
    pub bytes_out: u64,
    /// Datagrams longer than `max_datagram`, read in part.
    pub truncated: u64,
    /// Datagrams dropped because the send queue was full.
    pub send_queue_drops: u64,
    /// The most datagrams that waited in the send queue at once.
    pub send_queue_peak: u64,
    /// Receive errors (an ICMP error reported on the socket, ...), none fatal.
    pub recv_errors: u64,
    /// Send errors other than would-block (a datagram too large, an unreachable
    /// destination, ...): the datagram is dropped.
    pub send_errors: u64,
    /// The last errno of an error, for the reports.
    pub last_errno: Option<i32>,
}
